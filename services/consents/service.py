"""Consents: given, superseded, withdrawn; never edited (DESIGN §5, contracts.consent).

The rules (who may give a child's consent, the child's views, validity, evidence) and the
lifecycle (supersede, withdraw, expiry) are :mod:`contracts.consent`; this module stores the
result, seals the person's own words under the case's data key, and audits every step in the
same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.consent import (
    ChildViews,
    ConsentInvalid,
    ConsentRecord,
    ConsentStatus,
    ConsentTerms,
    InvalidTransition,
    Narrowing,
    effective_status,
    give,
    supersede,
    validate_consent,
)
from contracts.consent import narrow as narrowed_record
from contracts.consent import withdraw as withdrawn_record
from contracts.faults import Fault
from kit.db.base import new_id, utcnow
from kit.db.repository import Page
from kit.errors import NotFound
from kit.events import Events
from kit.faults import problem_for
from services.audit import service as audit
from services.audit.service import actor_of
from services.cases import service as cases
from services.cases.models import Case
from services.cases.sealing import CaseVault
from services.events import service as events

from . import cascade, repository
from .models import Consent

SUBJECT = "consent"
SUPERSEDES_UNKNOWN = "supersedes_unknown"


@dataclass(frozen=True)
class ConsentView:
    """A consent with its status as of now and, for a single read, the person's own words."""

    consent: Consent
    status: ConsentStatus
    child_views: ChildViews | None = None
    withdrawal_reason: str | None = None


def _child_views_slot(consent_id: uuid.UUID) -> str:
    return f"consent/{consent_id}/child_views"


def _reason_slot(consent_id: uuid.UUID) -> str:
    return f"consent/{consent_id}/withdrawal_reason"


def record_of(row: Consent) -> ConsentRecord:
    """The domain record of a stored consent, for its status and lifecycle. The child's views
    stay sealed: no rule of contracts.consent reads them once the consent is given."""
    return ConsentRecord(
        id=str(row.id),
        case_id=str(row.case_id),
        terms=ConsentTerms(
            purposes=tuple(row.purposes),
            recipients=tuple(row.recipients),
            categories=tuple(row.categories),
            given_by=row.given_by,
            method=row.method,
            valid_until=row.valid_until,
            evidence_ref=row.evidence_ref,
        ),
        given_at=row.given_at,
        status=ConsentStatus(row.status),
        supersedes=str(row.supersedes) if row.supersedes else None,
        superseded_by=str(row.superseded_by) if row.superseded_by else None,
        superseded_at=row.superseded_at,
        withdrawn_at=row.withdrawn_at,
    )


def status_of(row: Consent, now: datetime) -> ConsentStatus:
    return effective_status(record_of(row), now)


def _not_found() -> NotFound:
    return NotFound("No consent with this id at your agency.")


def _parse_supersedes(raw: object) -> tuple[uuid.UUID | None, list[Fault]]:
    if raw is None:
        return None, []
    try:
        return uuid.UUID(str(raw)), []
    except ValueError:
        # Not pydantic's message: it quotes the offending characters back.
        return None, [Fault(("supersedes",), "must be the id of a consent", "uuid_parsing")]


async def _superseded(
    session: AsyncSession, principal: Principal, case: Case, consent_id: uuid.UUID
) -> Consent:
    row = await repository.get_for(session, principal, consent_id, for_update=True)
    if row is None or row.case_id != case.id:
        fault = Fault(("supersedes",), "is not a consent of this case", SUPERSEDES_UNKNOWN)
        raise problem_for(ConsentInvalid([fault]))
    return row


async def give_consent(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    master_key: bytes,
    body: object,
) -> ConsentView:
    """Record a consent for a case (``POST /v1/cases/{id}/consents``), superseding the one
    named in ``supersedes`` if any. Whether the case is a child comes from its profile
    (``is_child``, or derived from ``date_of_birth``, or an unaccompanied person of unknown
    age: contracts.profile.CaseProfile.with_derived)."""
    case = await cases.get(session, principal=principal, case_id=case_id, for_update=True)
    if not isinstance(body, Mapping):
        raise problem_for(ConsentInvalid([Fault((), "must be a JSON object", "model_type")]))
    raw: dict[str, Any] = dict(body)
    supersedes, faults = _parse_supersedes(raw.pop("supersedes", None))
    now = utcnow()
    vault = cases.vault_of(case, master_key)
    is_child = bool(cases.profile_of(case, vault).with_derived(now.date()).is_child)
    terms: ConsentTerms | None = None
    try:
        terms = validate_consent(raw, case_is_child=is_child, now=now)
    except ConsentInvalid as error:
        faults = [*error.faults, *faults]
    if faults or terms is None:
        raise problem_for(ConsentInvalid(faults))
    consent_id = new_id()
    old_row: Consent | None = None
    if supersedes is None:
        record = give(str(consent_id), terms, given_at=now, case_id=str(case.id))
    else:
        old_row = await _superseded(session, principal, case, supersedes)
        try:
            old, record = supersede(record_of(old_row), str(consent_id), terms, at=now)
        except InvalidTransition as error:
            raise problem_for(error) from None
        old_row.status = old.status.value
        old_row.superseded_at = old.superseded_at
    row = Consent(
        id=consent_id,
        agency=principal.agency,
        case_id=case.id,
        status=record.status.value,
        purposes=list(terms.purposes),
        recipients=list(terms.recipients),
        categories=[c.value for c in terms.categories],
        given_by=terms.given_by.value,
        method=terms.method.value,
        child_views_sealed=_seal_child_views(vault, consent_id, terms.child_views),
        valid_until=terms.valid_until,
        evidence_ref=terms.evidence_ref,
        given_at=now,
        recorded_by=actor_of(principal),
        supersedes=supersedes,
    )
    await repository.add(session, row)
    if old_row is not None:
        # Set after the new row exists: the foreign key points at it.
        old_row.superseded_by = consent_id
        await session.flush()
    await audit.record_by(
        session,
        principal,
        "consent.given",
        _about(consent_id, case.id),
        categories=row.categories,
        detail={
            "purposes": row.purposes,
            "recipients": row.recipients,
            "given_by": row.given_by,
            "method": row.method,
            "child_views_recorded": row.child_views_sealed is not None,
            "supersedes": str(supersedes) if supersedes else None,
        },
    )
    await announce(session, row, "given")
    if old_row is not None:
        await audit.record_by(
            session,
            principal,
            "consent.superseded",
            _about(old_row.id, case.id),
            categories=old_row.categories,
            detail={"superseded_by": str(consent_id)},
        )
        await announce(session, old_row, "superseded", superseded_by=consent_id)
    return ConsentView(row, record.status)


async def announce(session: AsyncSession, row: Consent, what: str, **data: Any) -> None:
    """Log a change of the consent in the event log (DESIGN §10): ``consent.given``,
    ``consent.superseded``, ``consent.withdrawn``; ids and statuses, never its terms' reasons
    or the person's words. Expiry is not logged: no stored change makes it (see
    :func:`status_of`), so nothing happens at that moment to append."""
    await events.append(
        session,
        agency=row.agency,
        type=f"consent.{what}",
        data={
            "consent_id": row.id,
            "case_id": row.case_id,
            "status": row.status,
            "from_status": None if what == "given" else ConsentStatus.GIVEN.value,
            **data,
        },
    )


def _seal_child_views(
    vault: CaseVault, consent_id: uuid.UUID, views: ChildViews | None
) -> bytes | None:
    if views is None:
        return None
    return vault.seal(_child_views_slot(consent_id), views.model_dump(mode="json"))


async def page_for_case(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> Page[ConsentView]:
    """A case's consents, newest first, with their status as of now; nothing unsealed."""
    await cases.get(session, principal=principal, case_id=case_id)
    page = await repository.page_for_case(session, principal, case_id, cursor=cursor, limit=limit)
    now = utcnow()
    return Page(
        items=[ConsentView(row, status_of(row, now)) for row in page.items],
        next_cursor=page.next_cursor,
    )


async def read(
    session: AsyncSession, *, principal: Principal, consent_id: uuid.UUID, master_key: bytes
) -> ConsentView:
    """One consent, the child's views and any withdrawal reason unsealed; audited.

    Open to every case role, like the consent itself: a focal point approving a referral under
    a child's consent must see that the child was heard and what the child said (CRC art. 12).
    Lists and write answers carry only ``child_views_recorded``."""
    row = await repository.get_for(session, principal, consent_id)
    if row is None:
        raise _not_found()
    case = await cases.get(session, principal=principal, case_id=row.case_id)
    vault = cases.vault_of(case, master_key)
    views = None
    if row.child_views_sealed is not None:
        views = ChildViews.model_validate(
            vault.open(_child_views_slot(row.id), row.child_views_sealed)
        )
    reason = None
    if row.withdrawal_reason_sealed is not None:
        reason = str(vault.open(_reason_slot(row.id), row.withdrawal_reason_sealed))
    await audit.record_by(
        session,
        principal,
        "consent.read",
        _about(row.id, row.case_id),
        detail={
            "child_views_disclosed": views is not None,
            "withdrawal_reason_disclosed": reason is not None,
        },
    )
    return ConsentView(row, status_of(row, utcnow()), views, reason)


async def withdraw(
    session: AsyncSession,
    *,
    principal: Principal,
    consent_id: uuid.UUID,
    master_key: bytes,
    reason: str | None,
    events: Events,
) -> ConsentView:
    """The person withdrew their consent (``POST /v1/consents/{id}/withdraw``): final, at any
    time, expired or not (contracts.consent.withdraw). Then :func:`cascade.on_withdrawn`
    carries it to whatever rests on the consent, in this same transaction."""
    row = await repository.get_for(session, principal, consent_id, for_update=True)
    if row is None:
        raise _not_found()
    now = utcnow()
    try:
        record = withdrawn_record(record_of(row), at=now, reason=reason)
    except InvalidTransition as error:
        raise problem_for(error) from None
    row.status = record.status.value
    row.withdrawn_at = record.withdrawn_at
    if reason:
        case = await cases.get(session, principal=principal, case_id=row.case_id)
        vault = cases.vault_of(case, master_key)
        row.withdrawal_reason_sealed = vault.seal(_reason_slot(row.id), reason)
    await session.flush()
    await audit.record_by(
        session,
        principal,
        "consent.withdrawn",
        _about(row.id, row.case_id),
        categories=row.categories,
        detail={"recipients": row.recipients, "reason_given": bool(reason)},
    )
    await announce(session, row, "withdrawn")
    await cascade.on_withdrawn(session, events=events, principal=principal, consent=record, at=now)
    return ConsentView(row, record.status)


async def narrow(
    session: AsyncSession,
    *,
    principal: Principal,
    consent_id: uuid.UUID,
    master_key: bytes,
    taken_back: Narrowing,
    events: Events,
) -> ConsentView:
    """The person took part of a consent back (``POST /v1/consents/{id}/narrow``): what
    depended on that part is revoked and erased, the rest stands. Taking back every
    recipient, purpose or category is a withdrawal, and is carried out as one."""
    row = await repository.get_for(session, principal, consent_id, for_update=True)
    if row is None:
        raise _not_found()
    now = utcnow()
    try:
        record, emptied = narrowed_record(record_of(row), taken_back)
    except (InvalidTransition, ConsentInvalid) as error:
        raise problem_for(error) from None
    if emptied:
        return await withdraw(
            session,
            principal=principal,
            consent_id=consent_id,
            master_key=master_key,
            reason=None,
            events=events,
        )
    row.recipients = list(record.terms.recipients)
    row.purposes = list(record.terms.purposes)
    row.categories = [c.value for c in record.terms.categories]
    await session.flush()
    await audit.record_by(
        session,
        principal,
        "consent.narrowed",
        _about(row.id, row.case_id),
        categories=[c.value for c in taken_back.categories],
        detail={
            "recipients_taken_back": list(taken_back.recipients),
            "purposes_taken_back": list(taken_back.purposes),
        },
    )
    await announce(session, row, "narrowed")
    await cascade.on_narrowed(
        session, events=events, principal=principal, consent=record, taken_back=taken_back, at=now
    )
    return ConsentView(row, record.status)


async def others_given(session: AsyncSession, *, agency: str, case_id: uuid.UUID, but: str) -> bool:
    """Whether the case holds a consent in force besides ``but``: withdrawing one consent ends
    the person's journeys only when none is left."""
    rows = (
        await session.scalars(
            select(Consent).where(Consent.agency == agency, Consent.case_id == case_id)
        )
    ).all()
    now = utcnow()
    return any(str(r.id) != but and status_of(r, now) == ConsentStatus.GIVEN for r in rows)


async def record_for(
    session: AsyncSession, *, principal: Principal, consent_id: str
) -> ConsentRecord:
    """The consent (of the caller's agency) as a domain record, for the policy decision."""
    try:
        key = uuid.UUID(consent_id)
    except ValueError as exc:
        raise _not_found() from exc
    row = await repository.get_for(session, principal, key)
    if row is None:
        raise _not_found()
    return record_of(row)


async def record_of_agency(
    session: AsyncSession, *, agency: str, consent_id: str
) -> ConsentRecord | None:
    """A consent ``agency`` recorded, for a decision the node makes on the agency's behalf
    (results that come back under a referral it sent)."""
    try:
        key = uuid.UUID(consent_id)
    except ValueError:
        return None
    row = await session.get(Consent, key)
    return record_of(row) if row is not None and row.agency == agency else None


async def consent_gate(session: AsyncSession, envelope: Any) -> str | None:
    """A message citing a consent leaves only while that consent stands (DESIGN §5): after a
    withdrawal or expiry, nothing already queued under it is delivered."""
    cited = envelope.header.consent
    if cited is None:
        return None
    try:
        key = uuid.UUID(cited)
    except ValueError:
        return f"the cited consent {cited} is not a consent id"
    row = await session.get(Consent, key)
    if row is None or row.agency != envelope.header.from_:
        return f"consent {cited[:8]}… is not held by {envelope.header.from_}"
    status = status_of(row, utcnow())
    if status != ConsentStatus.GIVEN:
        return f"consent {cited[:8]}… is {status.value}; nothing more leaves under it"
    return None


async def covering(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    recipient: str,
    purpose: str,
    categories: list[str],
) -> uuid.UUID | None:
    """The newest consent of the case in force now that covers this disclosure, if any (for
    referrals a journey drafts on its own)."""
    rows = (
        await session.scalars(
            select(Consent)
            .where(Consent.agency == principal.agency, Consent.case_id == case_id)
            .order_by(Consent.given_at.desc())
        )
    ).all()
    now = utcnow()
    for row in rows:
        if status_of(row, now) != ConsentStatus.GIVEN:
            continue
        if (
            recipient in row.recipients
            and purpose in row.purposes
            and set(categories) <= set(row.categories)
        ):
            return row.id
    return None


def _about(subject_id: object, case_id: object) -> audit.Subject:
    return audit.Subject(SUBJECT, subject_id, case_id)
