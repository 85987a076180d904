"""Data-sharing agreements across nodes: drafted at one party, proposed to all, signed by each
party's admin with its agency key, active only when every party signed the same text, and
suspended or terminated by any party, everywhere (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts import agreements as terms_rules
from contracts.agreements import (
    AgreementState,
    AgreementStatus,
    AgreementTerms,
    Signature,
    effective_status,
    validate_terms,
)
from contracts.consent import ConsentRecord
from contracts.envelope import SignatureBlock, sign_json, verify_json
from contracts.faults import ContractError
from contracts.policy import Decision, decide
from kit.db.base import new_id, utcnow
from kit.db.repository import Page
from kit.errors import AccordError, Forbidden, NotFound
from kit.faults import problem_for
from services.agencies.models import Agency
from services.audit import service as audit
from services.events import service as events
from services.federation.outbox import send
from services.federation.runtime import Federation

from . import repository
from .models import AgreementRow

PROPOSED = "agreement.proposed"
SIGNED = "agreement.signed"
SUSPENDED = "agreement.suspended"
RESUMED = "agreement.resumed"
TERMINATED = "agreement.terminated"


class NotAPartyError(Forbidden):
    slug = "not-a-party"
    title = "Not a party to the agreement"
    explanation = "Only an admin of one of the agreement's parties may sign or change it."


async def known_agencies(session: AsyncSession, *, federation: Federation) -> set[str]:
    """Agencies an agreement may name: the directory's members and those hosted here."""
    hosted = set((await session.scalars(select(Agency.slug))).all())
    directory = federation.directory.current()
    return hosted | ({m.agency for m in directory.members} if directory else set())


def _refusal(error: ContractError, *, at: tuple[str | int, ...] = ("body",)) -> AccordError:
    if isinstance(error, terms_rules.NotAParty):
        return NotAPartyError(str(error))
    return problem_for(error, at=at)


async def load(
    session: AsyncSession,
    *,
    principal: Principal,
    agreement_id: str,
    version: int | None = None,
    for_change: bool = False,
) -> AgreementState:
    """The agreement as the caller's agency holds it. ``for_change``: its row locked until the
    transaction ends, so that a change computed from it cannot write back over another made
    meanwhile (a party's signature arriving from its node while ours is added here)."""
    row = await repository.get_for(
        session, principal.agency, agreement_id, version, lock=for_change
    )
    if row is None:
        raise NotFound("No agreement with this id to which your agency is a party.")
    return repository.to_state(row)


async def page(
    session: AsyncSession,
    *,
    principal: Principal,
    party: str | None = None,
    status: AgreementStatus | None = None,
    purpose: str | None = None,
    cursor: str | None,
    limit: int,
    now: datetime | None = None,
) -> Page[AgreementState]:
    """The versions the caller's agency is a party to, newest first. ``status`` is the status
    as of now (an active agreement past ``valid_until`` is ``expired``), so it is matched on
    each version's terms, as ``purpose`` is, not in SQL."""
    moment = now or utcnow()

    def keep(row: AgreementRow) -> bool:
        state = repository.to_state(row)
        if status is not None and effective_status(state, moment) != status:
            return False
        return purpose is None or purpose in state.terms.purposes

    filtered = status is not None or purpose is not None
    rows = await repository.page_for(
        session,
        principal.agency,
        party=party,
        keep=keep if filtered else None,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=[repository.to_state(r) for r in rows.items], next_cursor=rows.next_cursor)


async def _record(
    session: AsyncSession,
    principal: Principal | None,
    agency: str,
    state: AgreementState,
    action: str,
    **detail: Any,
) -> None:
    await audit.record(
        session,
        agency=agency,
        principal=principal,
        action=f"agreement.{action}",
        subject_type="agreement",
        subject_id=f"{state.id}@{state.version}",
        detail={"status": state.status.value, **detail},
    )


#: The event a change of ``TRANSITIONS`` logs.
CHANGED = {"suspend": "suspended", "resume": "resumed", "terminate": "terminated"}


async def announce(
    session: AsyncSession, federation: Federation, state: AgreementState, what: str, **data: Any
) -> None:
    """Log a change of the agreement in the event log of every party hosted on this node
    (DESIGN §10): the agreement is each party's, and each sees its own events only.
    ``agreement.drafted|revised|amended|proposed|signed|activated|suspended|resumed|
    terminated|superseded``, with the version and its status after the change; never its
    text or a stated reason."""
    for party in sorted(set(state.terms.parties)):
        if await federation.hosts(party):
            await events.append(
                session,
                agency=party,
                type=f"agreement.{what}",
                data={
                    "agreement_id": state.id,
                    "version": state.version,
                    "status": state.status.value,
                    **data,
                },
            )


async def announce_signature(
    session: AsyncSession,
    federation: Federation,
    was: AgreementStatus,
    state: AgreementState,
    *,
    by: str,
) -> None:
    """``agreement.signed``, then ``agreement.activated`` if that signature was the last."""
    await announce(session, federation, state, "signed", by=by)
    if state.status == AgreementStatus.ACTIVE and was != AgreementStatus.ACTIVE:
        await announce(session, federation, state, "activated", from_status=was.value)


async def _with_new_terms(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    data: object,
    make: Callable[[AgreementTerms], AgreementState],
    action: str,
    **detail: Any,
) -> AgreementState:
    """Validate ``data`` as terms (every fault named), make the new state from them, store it
    and record it: drafting, revising and amending differ only in ``make``."""
    try:
        terms = validate_terms(
            data, known_agencies=await known_agencies(session, federation=federation)
        )
        state = make(terms)
    except ContractError as error:
        raise _refusal(error) from error
    await repository.save(session, state)
    await _record(session, principal, principal.agency, state, action, **detail)
    await announce(session, federation, state, action, by=principal.agency)
    return state


async def draft(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    data: object,
    now: datetime | None = None,
) -> AgreementState:
    at = now or utcnow()
    return await _with_new_terms(
        session,
        federation=federation,
        principal=principal,
        data=data,
        make=lambda terms: terms_rules.new_draft(str(new_id()), terms, by=principal.agency, at=at),
        action="drafted",
    )


async def _on_held_version(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    agreement_id: str,
    data: object,
    transition: Callable[..., AgreementState],
    action: str,
) -> AgreementState:
    held = await load(session, principal=principal, agreement_id=agreement_id, for_change=True)
    detail = {"supersedes": held.version} if transition is terms_rules.amend else {}
    return await _with_new_terms(
        session,
        federation=federation,
        principal=principal,
        data=data,
        make=lambda terms: transition(held, terms, by=principal.agency, at=utcnow()),
        action=action,
        **detail,
    )


#: New terms for a draft, or the next version of a proposal (``contracts.agreements.revise``).
revise = partial(_on_held_version, transition=terms_rules.revise, action="revised")
#: The next version of an agreement in force, superseding it once every party of it signed.
amend = partial(_on_held_version, transition=terms_rules.amend, action="amended")


def snapshot(state: AgreementState) -> dict[str, Any]:
    """What other parties need to hold the proposal: the signed text's ingredients."""
    return {
        "id": state.id,
        "version": state.version,
        "terms": state.terms.model_dump(mode="json"),
        "supersedes": state.supersedes.model_dump(mode="json") if state.supersedes else None,
    }


async def _broadcast(
    session: AsyncSession,
    federation: Federation,
    sender: str,
    state: AgreementState,
    message_type: str,
    body: dict[str, Any],
) -> None:
    """Tell every other party's node; parties hosted here share this node's copy already."""
    for party in sorted(set(state.terms.parties) - {sender}):
        if not await federation.hosts(party):
            await send(
                session, federation, sender=sender, recipient=party, type=message_type, body=body
            )


async def propose(
    session: AsyncSession, *, federation: Federation, principal: Principal, agreement_id: str
) -> AgreementState:
    state = await load(session, principal=principal, agreement_id=agreement_id, for_change=True)
    now = utcnow()
    try:
        state = terms_rules.propose(state, by=principal.agency, at=now)
    except ContractError as error:
        raise _refusal(error) from error
    await repository.save(session, state)
    await _record(session, principal, principal.agency, state, "proposed", digest=state.digest)
    await announce(session, federation, state, "proposed", by=principal.agency)
    await _broadcast(
        session,
        federation,
        principal.agency,
        state,
        PROPOSED,
        {"agreement": snapshot(state), "at": _iso(now)},
    )
    return state


async def sign(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    agreement_id: str,
    digest: str,
) -> AgreementState:
    """Sign the current text with the agency key, refusing a digest that is not the current
    text's: the admin signs exactly what they reviewed, or nothing."""
    state = await load(session, principal=principal, agreement_id=agreement_id, for_change=True)
    if not state.is_party(principal.agency):
        raise NotAPartyError(f"{principal.agency} is not a party to agreement {state.ref}.")
    now = utcnow()
    key = await federation.keys.signing(principal.agency, at=now)
    block = sign_json(state.canonical(), key)
    signature = Signature(agency=principal.agency, kid=block.kid, value=block.value)
    was = state.status
    try:
        state = terms_rules.sign(state, signature, digest=digest, at=now)
    except ContractError as error:
        raise _refusal(error) from error
    await repository.save(session, state)
    await _record(session, principal, principal.agency, state, "signed", digest=digest)
    await announce_signature(session, federation, was, state, by=principal.agency)
    await _broadcast(
        session,
        federation,
        principal.agency,
        state,
        SIGNED,
        {
            "agreement": snapshot(state),
            "signature": signature.model_dump(mode="json"),
            "digest": digest,
            "at": _iso(now),
        },
    )
    await after_change(session, state, federation=federation)
    return state


Transition = Callable[..., AgreementState]


async def change(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    agreement_id: str,
    action: str,
    reason: str | None = None,
) -> AgreementState:
    """Suspend, resume or terminate, here and then at every other party's node."""
    state = await load(session, principal=principal, agreement_id=agreement_id, for_change=True)
    now = utcnow()
    transition, message_type = TRANSITIONS[action]
    kwargs: dict[str, Any] = {"by": principal.agency, "at": now}
    if action != "resume":
        kwargs["reason"] = reason or ""
    try:
        state = transition(state, **kwargs)
    except ContractError as error:
        raise _refusal(error) from error
    await repository.save(session, state)
    await _record(session, principal, principal.agency, state, action)
    await announce(session, federation, state, CHANGED[action], by=principal.agency)
    await _broadcast(
        session,
        federation,
        principal.agency,
        state,
        message_type,
        {
            "id": state.id,
            "version": state.version,
            "by": principal.agency,
            "reason": reason,
            "at": _iso(now),
        },
    )
    return state


TRANSITIONS: dict[str, tuple[Transition, str]] = {
    "suspend": (terms_rules.suspend, SUSPENDED),
    "resume": (terms_rules.resume, RESUMED),
    "terminate": (terms_rules.terminate, TERMINATED),
}


async def after_change(
    session: AsyncSession, state: AgreementState, *, federation: Federation
) -> None:
    """An amendment that just became active retires the version it supersedes."""
    if state.status != AgreementStatus.ACTIVE or state.supersedes is None:
        return
    old_row = await repository.get_row(session, state.id, state.supersedes.version, lock=True)
    if old_row is None:
        return
    old = repository.to_state(old_row)
    if old.status == AgreementStatus.SUPERSEDED:
        return
    try:
        retired = terms_rules.supersede(old, successor=state, at=utcnow())
    except ContractError:
        return  # already terminated or otherwise final: nothing to retire
    await repository.save(session, retired)
    await announce(session, federation, retired, "superseded")


def _iso(moment: datetime) -> str:
    return terms_rules.rfc3339(moment.replace(microsecond=0))


def signature_checks(
    state: AgreementState,
    federation: Federation,
) -> list[dict[str, Any]]:
    """Every current signature with whether it verifies against its agency's published key."""
    directory = federation.directory.current()
    checks = []
    for record in state.signatures:
        if record.digest != state.digest:
            continue
        signature = record.signature
        verified = False
        if directory is not None:
            try:
                key = directory.member_key(
                    signature.agency, signature.kid, at=record.signed_at, use="sig"
                )
                verify_json(
                    state.canonical(), SignatureBlock(kid=signature.kid, value=signature.value), key
                )
                verified = True
            except Exception:
                verified = False
        checks.append(
            {
                **signature.model_dump(mode="json"),
                "verified": verified,
                "signed_at": _iso(record.signed_at),
            }
        )
    return checks


def in_force(state: AgreementState, now: datetime | None = None) -> bool:
    return effective_status(state, now or utcnow()) == AgreementStatus.ACTIVE


async def agreement_gate(session: AsyncSession, envelope: Any) -> str | None:
    """A message sent under an agreement leaves only while the agreement is in force here."""
    ref = envelope.header.agreement
    if ref is None:
        return None
    row = await repository.get_row(session, ref.id, ref.version)
    if row is None:
        return f"agreement {ref.id} v{ref.version} is not held on this node"
    state = repository.to_state(row)
    status = effective_status(state, utcnow())
    if status != AgreementStatus.ACTIVE:
        return f"agreement {state.ref} is {status.value}; nothing more leaves under it"
    return None


async def decide_for(
    session: AsyncSession,
    *,
    principal: Principal,
    agreement_id: str,
    recipient: str,
    purpose: str,
    categories: list[str],
    consent: ConsentRecord | None,
    now: datetime | None = None,
) -> Decision:
    """The policy decision for the caller's agency as sender, on this node's copy."""
    state = await load(session, principal=principal, agreement_id=agreement_id)
    return decide(
        agreement=state,
        consent=consent,
        sender=principal.agency,
        recipient=recipient,
        purpose=purpose,
        categories=categories,
        now=now or utcnow(),
    )
