"""Withdrawal, erasure and its proof (DESIGN §5, §6).

When a person withdraws consent, the sender revokes every referral resting on it and tells
each recipient (``consent.withdrawn``). A recipient destroys the referral's data key, which
erases the content, and answers with an erasure receipt signed by its agency key
(``referral.erased``). The sender keeps the receipt as proof; until it arrives, past the
agreement's deadline, nothing more goes to that recipient under that agreement.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts import envelope as env
from contracts.consent import ConsentRecord, Narrowing
from contracts.directory import DirectoryError
from contracts.faults import ContractError
from contracts.keys import KeyProblem
from contracts.referrals import Action, ReferralStatus
from kit.db.base import utcnow
from kit.db.repository import Page
from kit.events import Subscriptions
from kit.http import idempotency
from services.audit.service import actor_of
from services.consents.cascade import NARROWED, WITHDRAWN, Narrowed, Withdrawal
from services.events import service as events
from services.federation.errors import ContentRefused
from services.federation.inbox import Handler, Received
from services.federation.outbox import cancel_sealed, send
from services.federation.runtime import Federation

from . import repository, service
from .models import Referral

#: Outgoing statuses in which the recipient may hold the person's data.
DELIVERED_OR_MAYBE = frozenset(
    {
        ReferralStatus.APPROVED.value,
        ReferralStatus.SENT.value,
        ReferralStatus.ACCEPTED.value,
        ReferralStatus.DECLINED.value,
        ReferralStatus.COMPLETED.value,
        ReferralStatus.EXPIRED.value,
    }
)


class ErasureRefused(ContentRefused):
    slug = "erasure-refused"
    title = "Erasure message refused"
    explanation = "The withdrawal or erasure receipt does not hold (wrong party or signature)."


async def _erase_rows(session: AsyncSession, row: Referral, *, reason: str) -> list[str]:
    """Destroy every copy this agency holds of the person's data under the referral: the
    sealed categories and decline reason with their data key, and any message still waiting
    in the outbox with sealed content, and every answer kept for a retry (``Idempotency-Key``)
    about the referral. Stored envelopes hold evidence only (DESIGN §4), so nothing else here
    can be opened afterwards."""
    categories = await repository.delete_data(session, row)
    await idempotency.forget(session, agency=row.agency, subjects=[row.referral_id, row.id])
    row.data_key_wrapped = None
    row.reason_sealed = None
    # Earlier versions kept a decline reason in the clear in the history.
    row.history = [
        {k: v for k, v in entry.items() if k != "detail"}
        if entry.get("status") == ReferralStatus.DECLINED.value
        else entry
        for entry in row.history
    ]
    await cancel_sealed(
        session, sender=row.agency, referral_id=row.referral_id, reason=f"erased ({reason})"
    )
    return categories


async def announce(session: AsyncSession, row: Referral, what: str, **data: Any) -> None:
    """Log a step of the referral's erasure in the event log, at ``row``'s agency (DESIGN
    §10): ``erasure.requested`` and ``erasure.confirmed`` (the signed receipt arrived) at the
    sender, ``erasure.erased`` where a copy was destroyed, ``erasure.overdue`` when a receipt
    is late."""
    await events.append(
        session,
        agency=row.agency,
        type=f"erasure.{what}",
        data={
            "referral_id": row.referral_id,
            "case_id": row.case_id,
            "direction": row.direction,
            "counterpart": row.counterpart,
            "agreement_id": row.agreement_id,
            "reason": row.erasure_reason,
            **data,
        },
    )


async def erase_received(
    session: AsyncSession,
    federation: Federation,
    row: Referral,
    *,
    reason: str,
    at: datetime,
    notify: bool,
) -> None:
    """Destroy this copy's data key and content; with ``notify``, send the signed receipt."""
    categories = await _erase_rows(session, row, reason=reason)
    row.erased_at = at.replace(microsecond=0)
    row.erasure_reason = reason
    await announce(session, row, "erased")
    await service._audit(
        session, None, row, "referral.erased", categories=categories, reason=reason
    )
    if notify:
        await _send_receipt(
            session,
            federation,
            agency=row.agency,
            to=row.counterpart,
            referral_id=row.referral_id,
            erased_at=row.erased_at,
            categories=categories,
            row=row,
        )


async def _send_receipt(
    session: AsyncSession,
    federation: Federation,
    *,
    agency: str,
    to: str,
    referral_id: str,
    erased_at: datetime,
    categories: list[str],
    row: Referral | None,
) -> None:
    key = await federation.keys.signing(agency, at=erased_at)
    receipt = env.sign_receipt(
        env.ErasureReceipt(
            referral=referral_id, erased_at=erased_at, by=agency, categories=categories
        ),
        key,
    )
    document = receipt.model_dump(mode="json")
    if row is not None:
        row.erasure_receipt = document
    await send(
        session,
        federation,
        sender=agency,
        recipient=to,
        type=service.ERASED,
        body={"referral_id": referral_id, "receipt": document},
        referral=referral_id,
    )


async def on_withdrawn(
    session: AsyncSession,
    federation: Federation,
    *,
    principal: Principal,
    consent: ConsentRecord,
    at: datetime,
    only: Narrowing | None = None,
) -> None:
    """The sender's side of a withdrawal: revoke, tell every recipient, await receipts. With
    ``only``, a narrowing: just the referrals that rested on what was taken back."""
    rows = await repository.outgoing_under_consent(
        session, agency=principal.agency, consent_id=consent.id
    )
    reason = "consent_withdrawn" if only is None else "consent_narrowed"
    notify: defaultdict[str, list[Referral]] = defaultdict(list)
    for row in rows:
        if only is not None and not only.covers(
            recipient=row.counterpart, purpose=row.purpose, categories=row.categories
        ):
            continue
        was = row.status
        if was == ReferralStatus.REVOKED.value:
            continue
        try:
            service.move(row, Action.REVOKE, actor_of(principal), reason.replace("_", " "), at=at)
        except ContractError:
            continue  # cancelled or rejected: nothing was (or stays) at the recipient
        await service.announce(session, row, reason=reason)
        # Results or a decline reason the recipient sent back, and the referral itself if it
        # is still waiting in the outbox.
        await _erase_rows(session, row, reason=reason)
        if was in DELIVERED_OR_MAYBE:
            agreement = await service.agreement_of(
                session, agreement_id=row.agreement_id, version=row.agreement_version
            )
            row.erasure_requested_at = at
            row.erasure_due_at = at + timedelta(hours=agreement.terms.erasure_deadline_hours)
            notify[row.counterpart].append(row)
            await announce(session, row, "requested", reason=reason, due_at=row.erasure_due_at)
        await service._audit(session, principal, row, "referral.revoked", reason=reason)
    for recipient, held in sorted(notify.items()):
        await send(
            session,
            federation,
            sender=principal.agency,
            recipient=recipient,
            type=service.CONSENT_WITHDRAWN,
            # The consent is named in the body, not the header: the withdrawal must leave
            # even though nothing may leave *under* the consent any more.
            body={
                "consent_id": consent.id,
                "referral_ids": [r.referral_id for r in held],
                "at": at.isoformat(),
            },
        )


async def on_consent_withdrawn(session: AsyncSession, received: Received) -> None:
    """The recipient's side: erase each referral named, and prove it."""
    header = received.envelope.header
    body = received.envelope.body
    try:
        withdrawal = _Withdrawal.model_validate(body)
    except ValidationError as exc:
        raise ErasureRefused.because(
            [("malformed_field", "a withdrawal names its consent and the referrals it concerns")]
        ) from exc
    for referral_id in withdrawal.referral_ids:
        row = await repository.get_for(
            session, agency=header.to, referral_id=referral_id, direction="incoming", lock=True
        )
        if row is None:
            # Never received (stopped in the sender's outbox): nothing held, and we say so.
            await _send_receipt(
                session,
                received.federation,
                agency=header.to,
                to=header.from_,
                referral_id=referral_id,
                erased_at=received.now,
                categories=[],
                row=None,
            )
            continue
        if row.counterpart != header.from_:
            raise ErasureRefused.because(
                [
                    (
                        "not_counterpart",
                        f"{header.from_} did not send referral {referral_id}; only its sender "
                        "relays its person's withdrawal",
                    )
                ]
            )
        with contextlib.suppress(ContractError):  # already closed: erase all the same
            service.move(
                row, Action.REVOKE, f"node:{header.from_}", "consent withdrawn", at=received.now
            )
            await service.announce(session, row, reason="consent_withdrawn")
        if row.erased_at is None:
            await erase_received(
                session,
                received.federation,
                row,
                reason="consent_withdrawn",
                at=received.now,
                notify=True,
            )
        elif row.erasure_receipt is not None:
            # Erased before (retention, cancellation): the receipt then stands; send it again.
            await send(
                session,
                received.federation,
                sender=row.agency,
                recipient=header.from_,
                type=service.ERASED,
                body={"referral_id": row.referral_id, "receipt": row.erasure_receipt},
                referral=row.referral_id,
            )
        else:
            await _send_receipt(
                session,
                received.federation,
                agency=row.agency,
                to=header.from_,
                referral_id=row.referral_id,
                erased_at=row.erased_at,
                categories=[],
                row=row,
            )
    await received.federation.events.emit(session, "consent.withdrawn_received", body)


async def on_erased(session: AsyncSession, received: Received) -> None:
    """The sender files the recipient's signed erasure receipt, after checking it."""
    header = received.envelope.header
    body = received.envelope.body
    try:
        signed = env.SignedReceipt.model_validate(body.get("receipt"))
    except ValidationError as exc:
        raise _erasure_refused("malformed_field", "the message carries no erasure receipt") from exc
    receipt = signed.receipt
    if not isinstance(receipt, env.ErasureReceipt) or receipt.by != header.from_:
        raise _erasure_refused(
            "not_own_receipt", "an erasure receipt is signed by the agency that erased"
        )
    directory = received.federation.directory.require()
    try:
        key = directory.member_key(
            receipt.by, signed.signature.kid, at=receipt.erased_at, use="sig"
        )
        env.verify_receipt(signed, key)
    except (DirectoryError, KeyProblem, env.EnvelopeError) as exc:
        raise _erasure_refused(
            "receipt_does_not_verify", f"the erasure receipt does not verify: {exc}"
        ) from exc
    row = await repository.get_for(
        session, agency=header.to, referral_id=receipt.referral, direction="outgoing", lock=True
    )
    if row is None or row.counterpart != receipt.by:
        raise _erasure_refused(
            "not_counterpart", "the receipt is for a referral this agency did not send there"
        )
    row.erasure_receipt = signed.model_dump(mode="json")
    row.erased_at = receipt.erased_at
    row.erasure_reason = row.erasure_reason or "confirmed_by_recipient"
    await announce(session, row, "confirmed")
    await service._audit(
        session, None, row, "referral.erasure_confirmed", categories=list(receipt.categories)
    )


class _Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consent_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    referral_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=36)]]
    at: AwareDatetime


def _erasure_refused(code: str, message: str) -> ErasureRefused:
    return ErasureRefused.because([(code, message)])


def erasure_state(row: Referral, now: datetime) -> Literal["pending", "overdue", "confirmed"]:
    if row.erasure_receipt is not None:
        return "confirmed"
    return "overdue" if row.erasure_due_at is not None and row.erasure_due_at <= now else "pending"


async def erasures(
    session: AsyncSession,
    *,
    principal: Principal,
    state: Literal["pending", "overdue", "confirmed"] | None,
    cursor: str | None,
    limit: int,
) -> Page[Referral]:
    """The erasure receipts the agency awaits or holds, newest request first."""
    return await repository.erasure_page(
        session, agency=principal.agency, state=state, now=utcnow(), cursor=cursor, limit=limit
    )


def erasure_view(row: Referral, now: datetime) -> dict[str, Any]:
    overdue = bool(
        row.erasure_due_at
        and row.erasure_receipt is None
        and row.direction == "outgoing"
        and row.erasure_due_at <= now
    )
    return {
        "requested_at": row.erasure_requested_at,
        "due_at": row.erasure_due_at,
        "erased_at": row.erased_at,
        "reason": row.erasure_reason,
        "receipt": row.erasure_receipt,
        "overdue": overdue,
    }


async def on_withdrawal(
    session: AsyncSession, withdrawal: Withdrawal, *, federation: Federation
) -> None:
    """The node's event ``consent.withdrawn``: revoke and ask every recipient to erase."""
    await on_withdrawn(
        session,
        federation,
        principal=withdrawal.principal,
        consent=withdrawal.consent,
        at=withdrawal.at,
    )


async def on_narrowing(
    session: AsyncSession, narrowed: Narrowed, *, federation: Federation
) -> None:
    """The node's event ``consent.narrowed``: revoke, and have erased, only what rested on the
    part taken back."""
    await on_withdrawn(
        session,
        federation,
        principal=narrowed.principal,
        consent=narrowed.consent,
        at=narrowed.at,
        only=narrowed.taken_back,
    )


#: The node's events this module acts on (subscribed by the app, with the federation).
SUBSCRIPTIONS: Subscriptions = {WITHDRAWN: on_withdrawal, NARROWED: on_narrowing}

HANDLERS: dict[str, Handler] = {
    service.CONSENT_WITHDRAWN: on_consent_withdrawn,
    service.ERASED: on_erased,
}
