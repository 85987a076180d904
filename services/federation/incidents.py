"""Recording refused and undeliverable messages for the admins (never silently dropped)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import envelope as env
from kit.observability.logging import get_logger

from . import errors
from .models import FederationIncident

log = get_logger("accord.federation")


async def add(
    session: AsyncSession,
    *,
    agency: str | None,
    direction: str,
    kind: str,
    peer: str | None,
    message_id: str | None,
    detail: str,
) -> None:
    session.add(
        FederationIncident(
            agency=agency,
            direction=direction,
            kind=kind,
            peer=peer,
            message_id=message_id,
            detail=detail[:2000],
        )
    )
    await session.flush()
    log.warning(
        "federation_incident", direction=direction, kind=kind, peer=peer, message_id=message_id
    )


async def record(db: Any, **fields: Any) -> None:
    """In a transaction of its own: the refused request's transaction has been rolled back."""
    async with db.sessions.begin() as session:
        await add(session, **fields)


def refusal_of(receipt: env.SignedReceipt) -> tuple[env.RefusalReason, ...]:
    """The reasons of a signed refusal receipt; empty for an acceptance."""
    inner = receipt.receipt
    if isinstance(inner, env.DeliveryReceipt) and not inner.accepted:
        return inner.reasons
    return ()


async def record_refused(
    db: Any, header: env.EnvelopeHeader, reasons: Sequence[env.RefusalReason]
) -> None:
    """A verified message this node refused for its content, for the recipient's admins."""
    await record(
        db,
        agency=header.to,
        direction="in",
        kind="message-refused",
        peer=header.from_,
        message_id=header.id,
        detail="; ".join(r.message for r in reasons),
    )


async def add_received(
    session: AsyncSession,
    header: env.EnvelopeHeader,
    outcome: tuple[env.SignedReceipt, bool] | errors.FederationRefusal,
    *,
    every_refusal: bool = False,
) -> None:
    """What one envelope of a batch came to, for the recipient's admins, in the batch's own
    transaction (which commits, unlike a refused single message's): the same rows a single
    message would leave. A refusal anyone could provoke writes no row unless ``every_refusal``
    (a delivery between two agencies of this node, where there is no anyone)."""
    if isinstance(outcome, errors.FederationRefusal):
        if isinstance(outcome, errors.NotAttempted):
            return
        if every_refusal or (outcome.authenticated and not outcome.retryable):
            await add(
                session,
                agency=header.to,
                direction="in",
                kind=outcome.slug,
                peer=header.from_,
                message_id=header.id,
                detail=outcome.detail,
            )
        return
    receipt, first = outcome
    reasons = refusal_of(receipt)
    if first and reasons:
        await add(
            session,
            agency=header.to,
            direction="in",
            kind="message-refused",
            peer=header.from_,
            message_id=header.id,
            detail="; ".join(r.message for r in reasons),
        )
