"""Referrals: drafted under a policy decision, approved by a second person, sealed to the
recipient, read by role, answered, completed, and erased when consent is withdrawn (DESIGN §6).

Every step is one transaction, and every message it announces is written to the outbox in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts import referrals as flow
from contracts.agreements import AgreementRef, AgreementState, break_glass_allowed
from contracts.consent import ConsentRecord, ConsentScope
from contracts.directory import UnknownMember
from contracts.faults import ContractError
from contracts.policy import (
    DirectoryEntry,
    PolicyRefused,
    Reason,
    ReasonCode,
    decide,
    decide_results,
    readable_by_agreement,
)
from contracts.referrals import Action, ReferralStatus
from kit.db.base import new_id, utcnow
from kit.db.repository import Page
from kit.errors import AccordError, Conflict, Forbidden, NotFound
from kit.faults import problem_for
from services.agreements import repository as agreements
from services.audit import service as audit
from services.audit.service import actor_of
from services.cases import service as cases
from services.cases.models import Case, CaseData
from services.cases.sealing import data_slot
from services.consents import service as consents
from services.events import service as events
from services.federation.outbox import send
from services.federation.runtime import Federation

from . import repository
from .models import BreakGlassGrant, Referral
from .vault import open_vault, vault_for

SENT = "referral.sent"
ACCEPTED = "referral.accepted"
DECLINED = "referral.declined"
COMPLETED = "referral.completed"
CANCELLED = "referral.cancelled"
APPROVING = "referral.approving"
ENDED = "referral.ended"
"""An outgoing referral ended without the stage's outcome: declined, expired, cancelled,
refused by its recipient or rejected on the way. The journey that drafted it needs attention."""


@dataclass(frozen=True)
class Ended:
    row: Referral


async def announce_end(session: AsyncSession, federation: Federation, row: Referral) -> None:
    """Tell the node an outgoing referral ended short of its outcome (see :data:`ENDED`)."""
    if row.direction == "outgoing" and row.status in ENDED_SHORT:
        await federation.events.emit(session, ENDED, Ended(row))


ENDED_SHORT = frozenset(
    s.value
    for s in (
        ReferralStatus.DECLINED,
        ReferralStatus.EXPIRED,
        ReferralStatus.CANCELLED,
        ReferralStatus.REFUSED_BY_RECIPIENT,
        ReferralStatus.REJECTED,
    )
)


@dataclass(frozen=True)
class Approving:
    """A focal point is approving an outgoing referral: a listener may still refuse it (the
    journey's runtime guard before a departure), and the approval rolls back with it."""

    principal: Principal
    row: Referral


CONSENT_WITHDRAWN = "consent.withdrawn"
ERASED = "referral.erased"
BREAK_GLASS = "referral.break_glass"
#: The sealed part of a ``referral.declined`` message, and the slot of the reason at rest.
DECLINE_REASON = "decline_reason"


class Erased(AccordError):
    status = 410
    slug = "erased"
    title = "Content erased"
    explanation = (
        "The person's data under this referral has been erased (consent withdrawn, retention "
        "ended, or the referral was cancelled); `erased_at` and `reason` say when and why."
    )


class FourEyes(Forbidden):
    slug = "four-eyes"
    title = "Approval refused"
    explanation = (
        "A referral is approved by a focal point of the sending agency who did not draft it; "
        "`violations` lists every reason."
    )


def _refused(error: ContractError) -> AccordError:
    if isinstance(error, flow.FourEyesViolation):
        return FourEyes(
            "; ".join(error.reasons),
            extra={"violations": [{"code": "four_eyes", "message": m} for m in error.reasons]},
        )
    problem = problem_for(error)
    if problem.status == 409:
        # A repeat of the same transition (approving twice) says where the referral stands.
        problem.extra.setdefault("current_status", getattr(error, "status", None))
    return problem


# --- reading the terms it rests on ---------------------------------------------------------


async def agreement_of(
    session: AsyncSession, *, agreement_id: str, version: int | None = None
) -> AgreementState:
    row = await agreements.get_row(session, agreement_id, version)
    if row is None:
        raise PolicyRefused(
            [
                Reason(
                    ReasonCode.AGREEMENT_NOT_SIGNED,
                    f"agreement {agreement_id[:8]}… is not held on this node",
                )
            ]
        )
    return agreements.to_state(row)


def directory_entry(federation: Federation, agency: str) -> DirectoryEntry | None:
    """What the held directory says of ``agency`` (kind, and a government's country), for the
    rules of the person's own state (DESIGN §9); ``None`` where no directory names it."""
    directory = federation.directory.current()
    if directory is None:
        return None
    try:
        member = directory.member(agency)
    except UnknownMember:
        return None
    return DirectoryEntry(kind=member.kind, country=member.country)


async def _decision(
    session: AsyncSession,
    *,
    federation: Federation,
    case: Case,
    case_data: list[CaseData],
    sender: str,
    recipient: str,
    purpose: str,
    categories: list[str],
    terms: _Terms,
    now: datetime,
) -> None:
    """The policy decision on disclosing ``categories`` of the case, or the refusal with all
    its reasons; the person's states are read from the case (DESIGN §9)."""
    person = await cases.states_of(
        session, case=case, master_key=federation.master_key, rows=case_data
    )
    decide(
        agreement=terms.agreement,
        consent=terms.consent,
        sender=sender,
        recipient=recipient,
        purpose=purpose,
        categories=categories,
        now=now,
        erasure_due=terms.erasure_due,
        recipient_entry=directory_entry(federation, recipient),
        person=person,
    ).require_allowed()


@dataclass(frozen=True)
class _Terms:
    agreement: AgreementState
    consent: ConsentRecord | None
    erasure_due: datetime | None


async def _terms(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID,
    recipient: str,
    agreement_id: str,
    version: int | None,
    consent_id: str | None,
) -> _Terms:
    """The agreement, the consent cited (of the case) and any erasure receipt overdue, for a
    referral's policy decision: in one round trip, or, when one of them is not found, read one
    by one so that each refuses as it does alone (consent first, then agreement)."""
    try:
        key = uuid.UUID(consent_id) if consent_id else None
    except ValueError:
        key = None
    found = (
        await repository.terms_of(
            session,
            sender=principal.agency,
            recipient=recipient,
            agreement_id=agreement_id,
            version=version,
            consent_id=key,
        )
        if key is not None or not consent_id
        else None
    )
    if found is not None:
        consent = consents.record_of(found.consent) if found.consent is not None else None
    else:
        consent = (
            await consents.record_for(session, principal=principal, consent_id=consent_id)
            if consent_id
            else None
        )
    if consent is not None and consent.case_id != str(case_id):
        raise PolicyRefused(
            [Reason(ReasonCode.CONSENT_MISSING, "the consent cited was given in another case")]
        )
    if found is not None:
        return _Terms(agreements.to_state(found.agreement), consent, found.erasure_due)
    agreement = await agreement_of(session, agreement_id=agreement_id, version=version)
    due = await repository.erasure_due(
        session, sender=principal.agency, recipient=recipient, agreement_id=agreement.id
    )
    return _Terms(agreement, consent, due)


def _history(
    row: Referral, status: str, actor: str, detail: str | None = None, at: datetime | None = None
) -> None:
    moment = at or utcnow()
    row.history = [
        *row.history,
        {
            "at": moment.isoformat(),
            "status": status,
            "by": actor,
            **({"detail": detail} if detail else {}),
        },
    ]
    row.status = status
    row.updated_at = moment


def move(
    row: Referral, action: Action, actor: str, detail: str | None = None, at: datetime | None = None
) -> None:
    """Apply a transition of the state machine, or raise the refusal a client can act on."""
    target = flow.next_status(row.direction, ReferralStatus(row.status), action)  # type: ignore[arg-type]
    _history(row, target.value, actor, detail, at)


async def announce(session: AsyncSession, row: Referral, **data: Any) -> None:
    """Log the move ``row`` just made in the event log, at the agency whose copy moved
    (DESIGN §10): ``referral.<status>``, with ids and the statuses it left and entered.

    Called after each :func:`move` (and on receiving or drafting a referral), in its
    transaction; ``move`` itself has no session to write with. ``data`` adds codes
    (``reason``), never a text: a decline reason or a note stays sealed."""
    before = [entry["status"] for entry in row.history[:-1]]
    await events.append(
        session,
        agency=row.agency,
        type=f"referral.{row.status}",
        data={
            "referral_id": row.referral_id,
            "case_id": row.case_id,
            "journey_id": row.journey_id,
            "stage": row.stage,
            "direction": row.direction,
            "counterpart": row.counterpart,
            "agreement_id": row.agreement_id,
            "consent_id": row.consent_id,
            "from_status": before[-1] if before else None,
            "status": row.status,
            **data,
        },
    )


# --- drafting and approving -------------------------------------------------------------------


async def create(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    data: Any,
    stage: str | None = None,
    journey_id: str | None = None,
) -> Referral:
    """Draft a referral as ``pending_approval``, only if the policy allows it now."""
    now = utcnow()
    case, case_data = await cases.get_with_data(session, principal=principal, case_id=data.case_id)
    categories = [c.value for c in data.categories]
    present = {row.category for row in case_data}
    missing = [c for c in categories if c not in present]
    terms = await _terms(
        session,
        principal=principal,
        case_id=case.id,
        recipient=data.to_agency,
        agreement_id=data.agreement_id,
        version=None,
        consent_id=str(data.consent_id) if data.consent_id else None,
    )
    agreement = terms.agreement
    try:
        await _decision(
            session,
            federation=federation,
            case=case,
            case_data=case_data,
            sender=principal.agency,
            recipient=data.to_agency,
            purpose=data.purpose,
            categories=categories,
            terms=terms,
            now=now,
        )
    except PolicyRefused as refusal:
        raise _refused(refusal) from refusal
    if missing:
        raise AccordError(
            f"The case holds no data for {', '.join(missing)}; record it first or leave it out.",
            status=422,
            extra={
                "errors": [
                    {
                        "location": f"body.categories.{categories.index(c)}",
                        "message": f"the case has no {c} data",
                        "type": "no_case_data",
                    }
                    for c in missing
                ]
            },
        )
    vault = cases.vault_of(case, federation.master_key)
    referral_id = str(new_id())
    row = Referral(
        id=uuid.UUID(referral_id),
        referral_id=referral_id,
        agency=principal.agency,
        direction="outgoing",
        counterpart=data.to_agency,
        case_id=case.id,
        purpose=data.purpose,
        agreement_id=agreement.id,
        agreement_version=agreement.version,
        consent_id=str(data.consent_id) if data.consent_id else None,
        categories=categories,
        stage=stage,
        journey_id=journey_id,
        status=ReferralStatus.PENDING_APPROVAL.value,
        respond_by=data.respond_by,
        drafted_by=actor_of(principal),
        note_sealed=vault.seal(f"referral/{referral_id}/note", data.note) if data.note else None,
        history=[],
        created_at=now,
        updated_at=now,
    )
    _history(row, ReferralStatus.PENDING_APPROVAL.value, row.drafted_by, at=now)
    await repository.add(session, row)
    await announce(session, row)
    await _audit(session, principal, row, "referral.drafted")
    return row


async def _audit(
    session: AsyncSession,
    principal: Principal | None,
    row: Referral,
    action: str,
    *,
    categories: list[str] | None = None,
    break_glass: bool = False,
    **detail: Any,
) -> None:
    await audit.record(
        session,
        agency=row.agency,
        principal=principal,
        action=action,
        subject_type="referral",
        subject_id=row.referral_id,
        referral_id=row.referral_id,
        case_id=row.case_id,
        categories=categories or [],
        purpose=row.purpose,
        break_glass=break_glass,
        detail={"status": row.status, "counterpart": row.counterpart, **detail},
    )


async def get_row(
    session: AsyncSession, *, principal: Principal | str, referral_id: str, lock: bool = False
) -> Referral:
    agency = principal if isinstance(principal, str) else principal.agency
    row = await repository.get_for(session, agency=agency, referral_id=referral_id, lock=lock)
    if row is None:
        raise NotFound("No referral with this id at your agency.")
    return row


async def approve(
    session: AsyncSession, *, federation: Federation, principal: Principal, referral_id: str
) -> Referral:
    """Four eyes, a fresh policy decision, then the sealed envelope goes to the outbox."""
    row = await get_row(session, principal=principal, referral_id=referral_id, lock=True)
    now = utcnow()
    try:
        if row.direction != "outgoing":
            flow.next_status("incoming", ReferralStatus(row.status), Action.APPROVE)
        flow.check_approver(
            approver=actor_of(principal),
            drafter=row.drafted_by,
            approver_agency=principal.agency,
            sender=row.agency,
            approver_roles=principal.roles,
        )
        move(row, Action.APPROVE, actor_of(principal), at=now)
        # The row's status, approver and message id go out in one UPDATE, when the message is
        # queued, rather than one each time a read below would flush it (issue 19).
        with session.no_autoflush:
            assert row.case_id is not None  # noqa: S101 - outgoing rows always have their case
            terms = await _terms(
                session,
                principal=principal,
                case_id=row.case_id,
                recipient=row.counterpart,
                agreement_id=row.agreement_id,
                version=row.agreement_version,
                consent_id=row.consent_id,
            )
            agreement, consent = terms.agreement, terms.consent
            case, case_data = await cases.get_with_data(
                session, principal=principal, case_id=row.case_id
            )
            await _decision(
                session,
                federation=federation,
                case=case,
                case_data=case_data,
                sender=row.agency,
                recipient=row.counterpart,
                purpose=row.purpose,
                categories=row.categories,
                terms=terms,
                now=now,
            )
    except ContractError as error:
        raise _refused(error) from error
    await federation.events.emit(session, APPROVING, Approving(principal, row))
    row.approved_by = actor_of(principal)
    vault = cases.vault_of(case, federation.master_key)
    content = {
        data.category: vault.open(data_slot(data.category), data.sealed)
        for data in case_data
        if data.category in row.categories
    }
    envelope = await send(
        session,
        federation,
        sender=row.agency,
        recipient=row.counterpart,
        type=SENT,
        body={
            "referral": {
                "id": row.referral_id,
                "purpose": row.purpose,
                "respond_by": row.respond_by.isoformat() if row.respond_by else None,
                "stage": row.stage,
                # The recipient re-checks the disclosure against it (DESIGN §4); the scope
                # says nothing about the person.
                "consent": consent.scope().model_dump(mode="json") if consent else None,
            }
        },
        categories=content,
        agreement=AgreementRef(id=agreement.id, version=agreement.version),
        purpose=row.purpose,
        consent=row.consent_id,
        referral=row.referral_id,
        encryption=agreement.terms.encryption.value,
    )
    row.message_id = envelope.header.id
    await session.flush()
    await announce(session, row)
    await _audit(session, principal, row, "referral.approved", categories=row.categories)
    return row


# --- the recipient's answers ----------------------------------------------------------------


async def _answer(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    referral_id: str,
    action: Action,
    message_type: str,
    body: dict[str, Any] | None = None,
    results: dict[str, dict[str, Any]] | None = None,
    reason: str | None = None,
) -> Referral:
    row = await get_row(session, principal=principal, referral_id=referral_id, lock=True)
    if row.direction != "incoming":
        raise Conflict(
            f"This is your agency's outgoing referral; only {row.counterpart} can "
            f"{action.value} it.",
            extra={"current_status": row.status},
        )
    try:
        move(row, action, actor_of(principal))
    except ContractError as error:
        raise _refused(error) from error
    agreement = await agreement_of(
        session, agreement_id=row.agreement_id, version=row.agreement_version
    )
    sealed: dict[str, dict[str, Any]] = dict(results or {})
    if reason is not None:
        # The focal point's words may be about the person: kept sealed here under the
        # referral's data key, sent sealed, and erased with the referral.
        sealed[DECLINE_REASON] = {"reason": reason}
        row.reason_sealed = vault_for(federation.master_key, row).seal(DECLINE_REASON, reason)
    await send(
        session,
        federation,
        sender=row.agency,
        recipient=row.counterpart,
        type=message_type,
        body={"referral_id": row.referral_id, "at": utcnow().isoformat(), **(body or {})},
        categories=sealed or None,
        # Results are data under the agreement, and leave only while it is in force.
        agreement=AgreementRef(id=agreement.id, version=agreement.version) if results else None,
        referral=row.referral_id,
        encryption=agreement.terms.encryption.value,
    )
    await announce(session, row)
    await _audit(
        session, principal, row, f"referral.{_past(action)}", categories=sorted(results or {})
    )
    return row


def _past(action: Action) -> str:
    return {
        Action.ACCEPT: "accepted",
        Action.DECLINE: "declined",
        Action.COMPLETE: "completed",
        Action.CANCEL: "cancelled",
    }.get(action, action.value)


async def accept(
    session: AsyncSession, *, federation: Federation, principal: Principal, referral_id: str
) -> Referral:
    return await _answer(
        session,
        federation=federation,
        principal=principal,
        referral_id=referral_id,
        action=Action.ACCEPT,
        message_type=ACCEPTED,
    )


async def decline(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    referral_id: str,
    reason: str,
) -> Referral:
    return await _answer(
        session,
        federation=federation,
        principal=principal,
        referral_id=referral_id,
        action=Action.DECLINE,
        message_type=DECLINED,
        reason=reason,
    )


async def complete(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    referral_id: str,
    outcome: str,
    results: dict[str, dict[str, Any]],
    decision_ref: str | None = None,
) -> Referral:
    """Complete an accepted referral with the stage's outcome and any results. A decision's
    reference travels with who took it (``agency/user:...``), for the sender's journey."""
    row = await get_row(session, principal=principal, referral_id=referral_id)
    if results:
        agreement = await agreement_of(
            session, agreement_id=row.agreement_id, version=row.agreement_version
        )
        try:
            decide_results(
                agreement=agreement,
                consent=ConsentScope.model_validate(row.consent_scope)
                if row.consent_scope
                else None,
                sender=row.agency,
                recipient=row.counterpart,
                purpose=row.purpose,
                categories=list(results),
                now=utcnow(),
            ).require_allowed()
        except PolicyRefused as refusal:
            raise _refused(refusal) from refusal
    completed = await _answer(
        session,
        federation=federation,
        principal=principal,
        referral_id=referral_id,
        action=Action.COMPLETE,
        message_type=COMPLETED,
        body={
            "outcome": outcome,
            **(
                {"decided_by": decided_by(principal), "decision_ref": decision_ref}
                if decision_ref
                else {}
            ),
        },
        results=results,
    )
    completed.outcome = outcome
    return completed


async def cancel(
    session: AsyncSession, *, federation: Federation, principal: Principal, referral_id: str
) -> Referral:
    """The sender withdraws a referral not yet accepted; a received copy is erased."""
    row = await get_row(session, principal=principal, referral_id=referral_id, lock=True)
    if row.direction != "outgoing":
        raise Conflict(
            "Only the sending agency cancels a referral; decline it instead.",
            extra={"current_status": row.status},
        )
    was = row.status
    try:
        move(row, Action.CANCEL, actor_of(principal))
    except ContractError as error:
        raise _refused(error) from error
    await _tell_cancelled(session, federation, row, was=was)
    await announce(session, row)
    await _audit(session, principal, row, "referral.cancelled")
    await announce_end(session, federation, row)
    return row


async def _tell_cancelled(
    session: AsyncSession, federation: Federation, row: Referral, *, was: str, **why: str
) -> None:
    """A referral that left this node is cancelled: its recipient is told, and erases."""
    if was == ReferralStatus.PENDING_APPROVAL.value:
        return
    await send(
        session,
        federation,
        sender=row.agency,
        recipient=row.counterpart,
        type=CANCELLED,
        body={"referral_id": row.referral_id, "at": utcnow().isoformat(), **why},
        referral=row.referral_id,
    )


def decided_by(principal: Principal) -> str:
    """Who took a decision, as the journey's history records it: agency and principal, the
    principal's id rather than a name."""
    return f"{principal.agency}/{actor_of(principal)}"


async def interrupt(
    session: AsyncSession, *, federation: Federation, principal: Principal, referral_id: str
) -> Referral | None:
    """The journey left the referral's stage for a safeguard (DESIGN §9): the referral is
    cancelled even after acceptance, and the recipient told, so that it erases its copy. A
    referral already closed is left as it is (None)."""
    row = await get_row(session, principal=principal, referral_id=referral_id, lock=True)
    was = row.status
    try:
        move(row, Action.INTERRUPT, actor_of(principal))
    except ContractError:
        return None
    await _tell_cancelled(session, federation, row, was=was, reason="diverted")
    await announce(session, row, reason="diverted")
    await _audit(session, principal, row, "referral.interrupted")
    return row


# --- reading ---------------------------------------------------------------------------------


async def active_grants(
    session: AsyncSession, *, row: Referral, principal: Principal, now: datetime
) -> list[str]:
    return await repository.granted(session, row, actor=actor_of(principal), now=now)


@dataclass(frozen=True)
class ReferralView:
    row: Referral
    data: dict[str, Any]
    withheld: list[dict[str, str]]
    note: str | None
    decline_reason: str | None


def decline_reason_of(federation: Federation, row: Referral) -> str | None:
    """The decline reason, while the referral's content is held."""
    if row.reason_sealed is None or row.data_key_wrapped is None:
        return None
    vault = open_vault(federation.master_key, row.id, row.data_key_wrapped)
    return str(vault.open(DECLINE_REASON, row.reason_sealed))


async def read(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    referral_id: str,
    only: Collection[str] | None = None,
) -> ReferralView:
    """The referral with the categories the caller's data roles open, the rest withheld with
    the reason; each read of personal data is an audit event naming what was disclosed.

    ``only`` narrows the read to those categories (a console list naming the person reads
    ``identity`` and nothing else)."""
    row, rows = await repository.get_with_data(
        session, agency=principal.agency, referral_id=referral_id
    )
    if row is None:
        raise NotFound("No referral with this id at your agency.")
    now = utcnow()
    stored = [d for d in rows if only is None or d.category in only]
    if row.erased_at is not None and row.direction == "incoming":
        raise Erased(
            f"This referral's content was erased at {row.erased_at.isoformat()} "
            f"({row.erasure_reason}).",
            extra={"erased_at": row.erased_at.isoformat(), "reason": row.erasure_reason},
        )
    agreement = await agreement_of(
        session, agreement_id=row.agreement_id, version=row.agreement_version
    )
    held = [data.category for data in stored]
    grants: list[str] = []
    readable, withheld = readable_by_agreement(agreement.terms, held, principal.data_roles)
    if withheld:
        # Only what the caller's roles leave closed can a break-glass grant open: the grants
        # are read only then (a round trip fewer on the common read).
        grants = await active_grants(session, row=row, principal=principal, now=now)
        if grants:
            readable, withheld = readable_by_agreement(
                agreement.terms, held, principal.data_roles, break_glass=grants
            )
    data: dict[str, Any] = {}
    if readable and row.data_key_wrapped is not None:
        vault = open_vault(federation.master_key, row.id, row.data_key_wrapped)
        by_category = {d.category: d for d in stored}
        data = {
            c.value: vault.open(data_slot(c.value), by_category[c.value].sealed) for c in readable
        }
    note = None
    if row.note_sealed is not None and row.case_id is not None:
        case = await cases.get(session, principal=principal, case_id=row.case_id)
        note = cases.vault_of(case, federation.master_key).open(
            f"referral/{row.referral_id}/note", row.note_sealed
        )
    if data:
        await _audit(
            session,
            principal,
            row,
            "referral.read",
            categories=sorted(data),
            break_glass=bool(set(grants) & set(data)),
            withheld=[w.category for w in withheld if w.category],
        )
    return ReferralView(
        row=row,
        data=data,
        withheld=[
            {"category": w.category or "", "code": w.code.value, "reason": w.message}
            for w in withheld
        ],
        note=note,
        decline_reason=decline_reason_of(federation, row),
    )


async def page(
    session: AsyncSession,
    *,
    principal: Principal,
    direction: Literal["outgoing", "incoming"] | None,
    status: str | None,
    stage: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Referral]:
    return await repository.page_for(
        session,
        agency=principal.agency,
        direction=direction,
        status=status,
        stage=stage,
        cursor=cursor,
        limit=limit,
    )


async def break_glass(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    referral_id: str,
    category: str,
    reason: str,
) -> BreakGlassGrant:
    """Open a withheld category once, where the agreement allows it (vital interest), for a
    limited time; the owning agency is told at once and the access stands out in the audit."""
    row = await get_row(session, principal=principal, referral_id=referral_id)
    if row.direction != "incoming" or row.data_key_wrapped is None:
        raise Conflict(
            "Break-glass opens received content that is still held.",
            extra={"current_status": row.status},
        )
    if "focal_point" not in principal.roles:
        raise Forbidden("Break-glass needs the focal_point role.")
    agreement = await agreement_of(
        session, agreement_id=row.agreement_id, version=row.agreement_version
    )
    if not break_glass_allowed(agreement.terms):
        raise Forbidden(
            f"Agreement {agreement.ref} does not allow break-glass (it needs legal basis "
            "vital_interest and break_glass: true)."
        )
    stored = {d.category for d in await repository.data_of(session, row)}
    if category not in stored:
        raise NotFound(f"This referral carries no {category}.")
    now = utcnow()
    vault = open_vault(federation.master_key, row.id, row.data_key_wrapped)
    grant = BreakGlassGrant(
        referral_row=row.id,
        category=category,
        actor=actor_of(principal),
        reason_sealed=vault.seal(f"break-glass/{category}", reason),
        granted_at=now,
        expires_at=now + timedelta(hours=agreement.terms.break_glass_hours),
    )
    await repository.add_grant(session, grant)
    await _audit(
        session,
        principal,
        row,
        "referral.break_glass",
        categories=[category],
        break_glass=True,
        until=grant.expires_at.isoformat(),
    )
    await send(
        session,
        federation,
        sender=row.agency,
        recipient=row.counterpart,
        type=BREAK_GLASS,
        body={
            "referral_id": row.referral_id,
            "category": category,
            "at": now.isoformat(),
            "until": grant.expires_at.isoformat(),
        },
        referral=row.referral_id,
    )
    return grant
