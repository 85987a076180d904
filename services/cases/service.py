"""Cases at the owning agency: recorded, read and changed, sealed at rest, every step audited.

Who may read or change which part of a case is :mod:`contracts.case_access`; this module
applies it, seals what it stores (:mod:`services.cases.sealing`) and writes the audit event of
every change and every read of personal data in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.case_access import (
    Withheld,
    WithheldFact,
    category_access,
    readable_in_own_case,
    readable_profile_facts,
)
from contracts.categories import (
    Category,
    CategoryDataInvalid,
    validate_case_data,
    validate_category_data,
)
from contracts.faults import Fault, FaultsError, faults_from_validation_error, parse_fields
from contracts.policy import PersonStates
from contracts.profile import CaseProfile
from kit.db.base import new_id, utcnow
from kit.db.repository import Page
from kit.errors import Conflict, Forbidden, NotFound
from kit.events import Events
from kit.faults import problem_for
from services.audit import service as audit
from services.audit.service import actor_of

from . import repository
from .models import Case, CaseData
from .schemas import CaseCreate
from .sealing import PROFILE_SLOT, CaseVault, data_slot, new_vault, open_vault

PROFILE_CHANGED = "case.profile_changed"


@dataclass(frozen=True)
class ProfileChanged:
    """Facts of a case changed; journeys follow them to the safeguards they require (DESIGN
    §9). Names the case only: listeners read the facts themselves, under their own rules."""

    principal: Principal
    case_id: uuid.UUID


SUBJECT = "case"


@dataclass(frozen=True)
class CaseView:
    """A case as one principal may see it."""

    case: Case
    profile: dict[str, Any]
    profile_withheld: tuple[WithheldFact, ...]
    data: dict[Category, dict[str, Any]]
    withheld: tuple[Withheld, ...]


def _not_found() -> NotFound:
    return NotFound("No case with this id at your agency.")


def _refuse_writes(withheld: list[Withheld] | list[WithheldFact], what: str) -> Forbidden:
    return Forbidden(
        f"You may change only the {what} you may read. See `withheld` for what needs which role.",
        extra={"withheld": [w.as_dict() for w in withheld]},
    )


def _access(principal: Principal, category: Category) -> Withheld | None:
    return category_access(category, roles=principal.roles, data_roles=principal.data_roles)


def _profile_faults(raw: object, at: tuple[str, ...]) -> tuple[CaseProfile | None, list[Fault]]:
    try:
        return CaseProfile.model_validate(raw), []
    except ValidationError as error:
        return None, faults_from_validation_error(error, at)


def _stored_profile(profile: CaseProfile) -> dict[str, Any]:
    # Known facts only: an unknown fact is absent rather than sealed as null.
    return profile.model_dump(mode="json", exclude_none=True)


def _parse_create(body: object) -> tuple[str, CaseProfile, dict[str, dict[str, Any]]]:
    """The new case's reference, profile and data; every fault of all three at once."""
    if not isinstance(body, Mapping):
        raise FaultsError([Fault((), "must be a JSON object", "model_type")])
    values, faults = parse_fields(CaseCreate, body, skip=frozenset({"profile", "data"}))
    profile, profile_faults = _profile_faults(body.get("profile", {}), ("profile",))
    faults.extend(profile_faults)
    data: dict[str, dict[str, Any]] = {}
    try:
        data = validate_case_data(body.get("data", {}))
    except CategoryDataInvalid as error:
        faults.extend(Fault(("data", *f.loc), f.message, f.code) for f in error.faults)
    if faults:
        raise FaultsError(faults)
    assert profile is not None  # noqa: S101 - no faults means the profile parsed
    return str(values["external_ref"]), profile, data


async def create(
    session: AsyncSession, *, principal: Principal, master_key: bytes, body: object
) -> Case:
    """Record a new case of the principal's agency (``POST /v1/cases``)."""
    try:
        external_ref, profile, data = _parse_create(body)
    except FaultsError as error:
        raise problem_for(error) from None
    refused = [w for name in data if (w := _access(principal, Category(name))) is not None]
    if refused:
        raise _refuse_writes(refused, "categories")
    if await repository.by_external_ref(session, principal.agency, external_ref) is not None:
        raise Conflict("A case with this external_ref already exists at your agency.")
    now = utcnow()
    case_id = new_id()
    vault, wrapped = new_vault(master_key, case_id)
    case = Case(
        id=case_id,
        agency=principal.agency,
        external_ref=external_ref,
        data_key_wrapped=wrapped,
        profile_sealed=vault.seal(PROFILE_SLOT, _stored_profile(profile)),
        created_by=actor_of(principal),
        created_at=now,
        updated_at=now,
    )
    rows = [
        CaseData(
            case_id=case_id,
            category=name,
            sealed=vault.seal(data_slot(name), value),
            updated_at=now,
        )
        for name, value in data.items()
    ]
    try:
        await repository.add(session, case, rows)
    except IntegrityError:
        # Another request took the same reference between the check above and this insert.
        raise Conflict("A case with this external_ref already exists at your agency.") from None
    await audit.record_by(
        session,
        principal,
        "case.created",
        _about(case.id, case.id),
        categories=data,
        detail={"profile_facts": sorted(_stored_profile(profile))},
    )
    return case


async def get(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID, for_update: bool = False
) -> Case:
    """The case, if it is the principal's agency's; another agency's case is not found."""
    case = await repository.get_for(session, principal, case_id, for_update=for_update)
    if case is None:
        raise _not_found()
    return case


async def get_with_data(
    session: AsyncSession, *, principal: Principal, case_id: uuid.UUID
) -> tuple[Case, list[CaseData]]:
    """:func:`get` and the case's data rows, read together."""
    case, rows = await repository.get_with_data(session, principal, case_id)
    if case is None:
        raise _not_found()
    return case, rows


async def page(
    session: AsyncSession,
    *,
    principal: Principal,
    cursor: str | None,
    limit: int,
    external_ref: str | None = None,
) -> Page[Case]:
    """The agency's cases, newest first. Nothing personal is unsealed, so nothing is audited."""
    return await repository.page_for(
        session, principal, cursor=cursor, limit=limit, external_ref=external_ref
    )


def vault_of(case: Case, master_key: bytes) -> CaseVault:
    return open_vault(master_key, case.id, case.data_key_wrapped)


def profile_of(case: Case, vault: CaseVault) -> CaseProfile:
    """The case's profile facts, unsealed, for the owner's own decisions (the consent rules for
    a child, SOP guards). Callers that show them to a person use :func:`read` instead."""
    return CaseProfile.model_validate(vault.open(PROFILE_SLOT, case.profile_sealed))


async def states_of(
    session: AsyncSession,
    *,
    case: Case,
    master_key: bytes,
    rows: Sequence[CaseData] | None = None,
) -> PersonStates:
    """The states the person belongs to, as this agency records them (profile facts and the
    ``identity`` category): what the policy checks a disclosure to a government against.
    ``rows``: the case's data rows, when the caller has read them already (a round trip less)."""
    vault = vault_of(case, master_key)
    profile = profile_of(case, vault)
    if rows is None:
        rows = await repository.data_of(session, case.id)
    identity = next(
        (
            vault.open(data_slot(row.category), row.sealed)
            for row in rows
            if row.category == Category.IDENTITY.value
        ),
        None,
    )
    return PersonStates.recorded(
        identity if isinstance(identity, dict) else None,
        nationality=profile.nationality,
        country_of_origin=profile.country_of_origin,
    )


async def read(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    master_key: bytes,
    only: Collection[str] | None = None,
) -> CaseView:
    """The case with what the principal may read unsealed and the rest listed as withheld
    (``GET /v1/cases/{id}``); audited, naming the categories and profile facts disclosed.

    ``only`` narrows the read to those categories and no profile fact: a console page showing
    whom a referral is about, or what it sends, unseals (and audits) nothing more. Such a
    narrowed read that discloses nothing is not audited."""
    case = await get(session, principal=principal, case_id=case_id)
    vault = vault_of(case, master_key)
    rows = {
        Category(row.category): row
        for row in await repository.data_of(session, case.id)
        if only is None or row.category in only
    }
    readable, withheld = readable_in_own_case(
        rows, roles=principal.roles, data_roles=principal.data_roles
    )
    data = {c: vault.open(data_slot(c.value), rows[c].sealed) for c in readable}
    facts = _stored_profile(profile_of(case, vault)) if only is None else {}
    shown, facts_withheld = readable_profile_facts(
        facts, roles=principal.roles, data_roles=principal.data_roles
    )
    if only is not None and not data:
        return CaseView(case=case, profile={}, profile_withheld=(), data={}, withheld=withheld)
    await audit.record_by(
        session,
        principal,
        "case.read",
        _about(case.id, case.id),
        categories=[c.value for c in readable],
        detail={
            "profile_facts": list(shown),
            "withheld": [w.category.value for w in withheld],
            "profile_facts_withheld": [w.fact for w in facts_withheld],
        },
    )
    return CaseView(
        case=case,
        profile={fact: facts[fact] for fact in shown},
        profile_withheld=facts_withheld,
        data=data,
        withheld=withheld,
    )


def _category_faults_at_path(error: CategoryDataInvalid) -> CategoryDataInvalid:
    """Locate the faults of ``PUT .../data/{category}``: an unknown category is the path's
    fault; a bad field sits in the body, which is the category's object itself."""
    located = [
        Fault(("path", "category"), f.message, f.code)
        if f.code == "category"
        else Fault(("body", *f.loc[1:]), f.message, f.code)
        for f in error.faults
    ]
    return CategoryDataInvalid(error.category, located)


async def replace_category(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    category: str,
    master_key: bytes,
    body: object,
) -> Case:
    """Replace one category of a case with ``body`` (``PUT /v1/cases/{id}/data/{category}``)."""
    case = await get(session, principal=principal, case_id=case_id, for_update=True)
    try:
        value = validate_category_data(category, body)
    except CategoryDataInvalid as error:
        raise problem_for(_category_faults_at_path(error), at=()) from None
    refused = _access(principal, Category(category))
    if refused is not None:
        raise _refuse_writes([refused], "categories")
    now = utcnow()
    vault = vault_of(case, master_key)
    await repository.put_data(
        session,
        CaseData(
            case_id=case.id,
            category=category,
            sealed=vault.seal(data_slot(category), value),
            updated_at=now,
        ),
    )
    case.updated_at = now
    await session.flush()
    await audit.record_by(
        session, principal, "case.data_replaced", _about(case.id, case.id), categories=[category]
    )
    return case


async def patch_profile(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    master_key: bytes,
    body: object,
    events: Events | None = None,
) -> Case:
    """Change profile facts (``PATCH /v1/cases/{id}/profile``), as a JSON merge patch
    (RFC 7396): a fact sent replaces the one held, ``null`` makes it unknown again, a fact not
    sent is kept. The merged profile must hold together (e.g. ``is_child`` against ``age``)."""
    case = await get(session, principal=principal, case_id=case_id, for_update=True)
    if not isinstance(body, Mapping):
        raise problem_for(FaultsError([Fault((), "must be a JSON object", "model_type")]))
    faults = [
        Fault((str(k),), "is not a profile fact", "extra_forbidden")
        for k in body
        if k not in CaseProfile.model_fields
    ]
    vault = vault_of(case, master_key)
    merged = {**_stored_profile(profile_of(case, vault)), **body}
    profile, profile_faults = _profile_faults(
        {k: v for k, v in merged.items() if v is not None and k in CaseProfile.model_fields}, ()
    )
    faults.extend(profile_faults)
    if faults:
        raise problem_for(FaultsError(faults))
    assert profile is not None  # noqa: S101 - no faults means the profile parsed
    _, refused = readable_profile_facts(
        body, roles=principal.roles, data_roles=principal.data_roles
    )
    if refused:
        raise _refuse_writes(list(refused), "profile facts")
    case.profile_sealed = vault.seal(PROFILE_SLOT, _stored_profile(profile))
    case.updated_at = utcnow()
    await session.flush()
    await audit.record_by(
        session,
        principal,
        "case.profile_updated",
        _about(case.id, case.id),
        detail={"profile_facts": sorted(str(k) for k in body)},
    )
    if events is not None:
        await events.emit(session, PROFILE_CHANGED, ProfileChanged(principal, case.id))
    return case


def _about(subject_id: object, case_id: object) -> audit.Subject:
    return audit.Subject(SUBJECT, subject_id, case_id)
