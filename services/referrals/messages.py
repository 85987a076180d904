"""Referral messages between the sender's node and the recipient's.

The recipient opens the sealed categories with its agency keys and at once re-seals them
under a data key of this referral (DESIGN §4 "At rest"), so erasing that key later erases the
content. The sender applies the recipient's answers to its own row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import envelope as env
from contracts.agreements import AgreementStatus, effective_status
from contracts.faults import ContractError
from contracts.keys import KeyProblem
from contracts.referrals import Action, ReferralStatus
from services.agreements import repository as agreement_rows
from services.audit import service as audit
from services.cases.sealing import data_slot
from services.db.base import new_id
from services.federation.errors import FederationRefusal
from services.federation.inbox import Handler, Received
from services.federation.models import OutboxMessage
from services.federation.runtime import SettledHook

from . import erasure, service
from .models import Referral, ReferralData
from .vault import new_vault

PEER = "node"
COMPLETED_EVENT = "referral.completed"


@dataclass(frozen=True)
class Completed:
    """The sender learnt a referral's outcome (and opened what came back with it)."""

    row: Referral
    results: dict[str, dict[str, Any]]


class ReferralRefused(FederationRefusal):
    status = 422
    slug = "referral-refused"
    title = "Referral message refused"
    explanation = (
        "The referral message does not apply here: not under an agreement in force at the "
        "recipient, not between the referral's parties, or a step its state does not allow."
    )


class ReferralNotYetKnown(FederationRefusal):
    status = 409
    slug = "referral-not-yet-known"
    title = "Referral not yet known here"
    explanation = "An answer arrived before the referral it answers; the sender retries."
    retryable = True


def _at(received: Received) -> datetime:
    raw = received.envelope.body.get("at")
    try:
        return datetime.fromisoformat(str(raw)) if raw else received.now
    except ValueError:
        return received.now


async def on_sent(session: AsyncSession, received: Received) -> None:
    """A referral arrives: check the agreement here, open, re-seal at rest, store."""
    envelope = received.envelope
    header = envelope.header
    body = envelope.body.get("referral")
    if not isinstance(body, dict) or header.agreement is None or header.referral is None:
        raise ReferralRefused("A referral carries its id, agreement and purpose.")
    agreement_row = await agreement_rows.get_row(
        session, header.agreement.id, header.agreement.version
    )
    if agreement_row is None:
        raise ReferralRefused(f"Agreement {header.agreement.id} is not held by {header.to}.")
    agreement = agreement_rows.to_state(agreement_row)
    status = effective_status(agreement, received.now)
    if status != AgreementStatus.ACTIVE:
        raise ReferralRefused(f"Agreement {agreement.ref} is {status.value} at {header.to}.")
    if {header.from_, header.to} - set(agreement.terms.parties):
        raise ReferralRefused("Sender and recipient must both be parties to the agreement.")
    existing = (
        await session.scalars(
            select(Referral).where(
                Referral.referral_id == header.referral, Referral.agency == header.to
            )
        )
    ).first()
    if existing is not None:
        raise ReferralRefused(f"Referral {header.referral} is already held by {header.to}.")
    keys = await received.federation.keys.by_kid(header.to)
    try:
        content = env.open_categories(envelope, keys, encryption=agreement.terms.encryption.value)
    except (env.EnvelopeError, KeyProblem) as exc:
        raise ReferralRefused(f"The sealed categories do not open here: {exc}") from exc
    row_id = new_id()
    vault, wrapped = new_vault(received.federation.master_key, row_id)
    respond_by = body.get("respond_by")
    row = Referral(
        id=row_id,
        referral_id=header.referral,
        agency=header.to,
        direction="incoming",
        counterpart=header.from_,
        case_id=None,
        purpose=header.purpose or "",
        agreement_id=agreement.id,
        agreement_version=agreement.version,
        consent_id=header.consent,
        categories=sorted(content),
        stage=body.get("stage"),
        status=ReferralStatus.RECEIVED.value,
        respond_by=datetime.fromisoformat(str(respond_by)) if respond_by else None,
        drafted_by=f"{PEER}:{header.from_}",
        data_key_wrapped=wrapped,
        message_id=header.id,
        history=[],
        created_at=received.now,
        updated_at=received.now,
    )
    service._history(row, ReferralStatus.RECEIVED.value, f"{PEER}:{header.from_}", at=received.now)
    session.add(row)
    await session.flush()
    for category, value in content.items():
        session.add(
            ReferralData(
                referral_row=row.id,
                category=category,
                sealed=vault.seal(data_slot(category), value),
            )
        )
    await session.flush()
    await service._audit(session, None, row, "referral.received", categories=sorted(content))


async def _outgoing(session: AsyncSession, received: Received) -> Referral:
    body = received.envelope.body
    referral_id = str(body.get("referral_id") or received.envelope.header.referral)
    row = (
        await session.scalars(
            select(Referral)
            .where(
                Referral.referral_id == referral_id,
                Referral.agency == received.envelope.header.to,
                Referral.direction == "outgoing",
            )
            .with_for_update()
        )
    ).first()
    if row is None:
        raise ReferralNotYetKnown(f"Referral {referral_id} is not known here.")
    if row.counterpart != received.envelope.header.from_:
        raise ReferralRefused("Only the referral's recipient answers it.")
    return row


async def _apply(
    session: AsyncSession,
    received: Received,
    row: Referral,
    action: Action,
    detail: str | None = None,
) -> None:
    try:
        service.move(row, action, f"{PEER}:{row.counterpart}", detail, at=_at(received))
    except ContractError as exc:
        if row.status in (ReferralStatus.REVOKED.value, ReferralStatus.CANCELLED.value):
            return  # the sender moved on (withdrawal, cancellation); the answer changes nothing
        raise ReferralRefused(str(exc)) from exc
    await service._audit(session, None, row, f"referral.{row.status}")


async def on_accepted(session: AsyncSession, received: Received) -> None:
    row = await _outgoing(session, received)
    await _apply(session, received, row, Action.ACCEPT)


async def on_declined(session: AsyncSession, received: Received) -> None:
    row = await _outgoing(session, received)
    reason = str(received.envelope.body.get("reason") or "")[:500]
    await _apply(session, received, row, Action.DECLINE, reason)


async def on_completed(session: AsyncSession, received: Received) -> None:
    """The recipient's outcome, with any result categories sealed back to the sender."""
    row = await _outgoing(session, received)
    await _apply(session, received, row, Action.COMPLETE)
    row.outcome = str(received.envelope.body.get("outcome") or "")[:64] or None
    envelope = received.envelope
    results: dict[str, dict[str, Any]] = {}
    if envelope.sealed:
        keys = await received.federation.keys.by_kid(row.agency)
        try:
            results = env.open_categories(envelope, keys)
        except (env.EnvelopeError, KeyProblem) as exc:
            raise ReferralRefused(f"The result categories do not open here: {exc}") from exc
        vault, wrapped = new_vault(received.federation.master_key, row.id)
        row.data_key_wrapped = wrapped
        for category, value in results.items():
            session.add(
                ReferralData(
                    referral_row=row.id,
                    category=category,
                    sealed=vault.seal(data_slot(category), value),
                )
            )
        await session.flush()
        await service._audit(
            session, None, row, "referral.results_received", categories=sorted(results)
        )
    await received.federation.events.emit(session, COMPLETED_EVENT, Completed(row, results))


async def on_cancelled(session: AsyncSession, received: Received) -> None:
    """The sender cancelled before acceptance: the received copy is erased at once."""
    header = received.envelope.header
    row = (
        await session.scalars(
            select(Referral)
            .where(
                Referral.referral_id == received.envelope.body.get("referral_id"),
                Referral.agency == header.to,
                Referral.direction == "incoming",
            )
            .with_for_update()
        )
    ).first()
    if row is None:
        raise ReferralNotYetKnown("The referral has not reached this node yet.")
    try:
        service.move(row, Action.CANCEL, f"{PEER}:{header.from_}", at=_at(received))
    except ContractError:
        pass  # accepted already: the sender's cancellation came too late to apply
    else:
        await erasure.erase_received(
            session, received.federation, row, reason="cancelled", at=received.now, notify=True
        )


async def on_break_glass(session: AsyncSession, received: Received) -> None:
    """The recipient opened a withheld category: the owning agency learns it at once."""
    row = await _outgoing(session, received)
    body = received.envelope.body
    await audit.record(
        session,
        agency=row.agency,
        principal=None,
        action="referral.break_glass_notified",
        subject_type="referral",
        subject_id=row.referral_id,
        referral_id=row.referral_id,
        case_id=row.case_id,
        categories=[str(body.get("category"))],
        purpose=row.purpose,
        break_glass=True,
        detail={"by": row.counterpart, "until": body.get("until")},
    )


# --- the sender side follows the outbox ----------------------------------------------------


async def on_sent_settled(session: AsyncSession, message: OutboxMessage) -> None:
    """Delivered with a receipt: ``sent``. Refused for good or cancelled by a gate: the
    referral says so, with the reason, instead of waiting forever."""
    row = (
        await session.scalars(
            select(Referral)
            .where(
                Referral.message_id == message.message_id,
                Referral.agency == message.sender,
            )
            .with_for_update()
        )
    ).first()
    if row is None:
        return
    action = {
        "delivered": Action.DELIVERED,
        "rejected": Action.REJECT,
        "cancelled": Action.REJECT,
    }.get(message.status)
    if action is None:
        return
    try:
        service.move(
            row,
            action,
            "node",
            None if action is Action.DELIVERED else (message.last_error or "")[:300],
        )
    except ContractError:
        return  # already moved on (revoked, cancelled) before the delivery settled
    await service._audit(session, None, row, f"referral.{row.status}")


HANDLERS: dict[str, Handler] = {
    service.SENT: on_sent,
    service.ACCEPTED: on_accepted,
    service.DECLINED: on_declined,
    service.COMPLETED: on_completed,
    service.CANCELLED: on_cancelled,
    service.BREAK_GLASS: on_break_glass,
    **erasure.HANDLERS,
}

SETTLED: dict[str, SettledHook] = {service.SENT: on_sent_settled}
