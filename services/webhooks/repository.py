"""Every query on webhooks and their deliveries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from kit.db.base import new_id
from kit.db.repository import Page, keyset_page
from services.events.models import Event

from .models import Webhook, WebhookDelivery


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


async def get_for(
    session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, *, lock: bool = False
) -> Webhook | None:
    statement = select(Webhook).where(
        Webhook.id == webhook_id,
        Webhook.agency == principal.agency,
        Webhook.deleted_at.is_(None),
    )
    if lock:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).first()


async def page_for(
    session: AsyncSession, principal: Principal, *, cursor: str | None, limit: int
) -> Page[Webhook]:
    statement = select(Webhook).where(
        Webhook.agency == principal.agency, Webhook.deleted_at.is_(None)
    )
    return await keyset_page(session, statement, Webhook.id, cursor=cursor, limit=limit)


async def deliveries_page(
    session: AsyncSession,
    webhook: Webhook,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[WebhookDelivery]:
    statement = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    return await keyset_page(session, statement, WebhookDelivery.id, cursor=cursor, limit=limit)


async def status_counts(
    session: AsyncSession, webhooks: Sequence[Webhook]
) -> dict[uuid.UUID, dict[str, int]]:
    """How many deliveries each of ``webhooks`` has in each status (absent: none)."""
    counts: dict[uuid.UUID, dict[str, int]] = {w.id: {} for w in webhooks}
    if not webhooks:
        return counts
    rows = await session.execute(
        select(WebhookDelivery.webhook_id, WebhookDelivery.status, func.count())
        .where(WebhookDelivery.webhook_id.in_(list(counts)))
        .group_by(WebhookDelivery.webhook_id, WebhookDelivery.status)
    )
    for webhook_id, status, count in rows.all():
        counts[webhook_id][status] = count
    return counts


async def delivery_for(
    session: AsyncSession, webhook: Webhook, delivery_id: uuid.UUID
) -> WebhookDelivery | None:
    return (
        await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook.id)
            .with_for_update()
        )
    ).first()


async def cancel_pending(session: AsyncSession, webhook: Webhook) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.status == "pending")
        .values(status="cancelled", last_error="unsubscribed", leased_until=None)
    )


# --- the worker ------------------------------------------------------------------------------


async def live_webhook_ids(session: AsyncSession) -> list[uuid.UUID]:
    return list(
        (
            await session.scalars(
                select(Webhook.id).where(Webhook.deleted_at.is_(None)).order_by(Webhook.id)
            )
        ).all()
    )


async def lock_live(session: AsyncSession, webhook_id: uuid.UUID) -> Webhook | None:
    """The subscription, locked for its fan-out (skipped if another worker holds it)."""
    statement = select(Webhook).where(Webhook.id == webhook_id, Webhook.deleted_at.is_(None))
    if _dialect(session) == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return (await session.scalars(statement)).first()


async def new_events(
    session: AsyncSession, webhook: Webhook, *, lower: uuid.UUID, limit: int
) -> Sequence[Event]:
    """The subscription's agency's events of its types after ``lower``, oldest first."""
    return (
        await session.scalars(
            select(Event)
            .where(
                Event.agency == webhook.agency,
                Event.id > lower,
                Event.type.in_(list(webhook.event_types)),
            )
            .order_by(Event.id)
            .limit(limit)
        )
    ).all()


async def late_events(
    session: AsyncSession, webhook: Webhook, *, lower: uuid.UUID, upper: uuid.UUID, limit: int
) -> Sequence[Event]:
    """Events in ``(lower, upper]`` that have no delivery for ``webhook`` yet: those whose
    transaction committed after the cursor had passed their id."""
    delivered = exists().where(
        WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.event_id == Event.id
    )
    return (
        await session.scalars(
            select(Event)
            .where(
                Event.agency == webhook.agency,
                Event.id > lower,
                Event.id <= upper,
                Event.type.in_(list(webhook.event_types)),
                ~delivered,
            )
            .order_by(Event.id)
            .limit(limit)
        )
    ).all()


async def add_deliveries(
    session: AsyncSession,
    webhook: Webhook,
    events: Sequence[Event],
    *,
    now: datetime,
    retry_until: datetime,
) -> None:
    """One pending delivery per event; one that exists already (another worker's, or a
    look-back that saw it again) is left as it is."""
    if not events:
        return
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    await session.execute(
        insert(WebhookDelivery)
        .values(
            [
                {
                    "id": new_id(),
                    "webhook_id": webhook.id,
                    "agency": webhook.agency,
                    "event_id": event.id,
                    "event_type": event.type,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "retry_until": retry_until,
                    "created_at": now,
                }
                for event in events
            ]
        )
        .on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
    )


async def claim_due(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int
) -> list[WebhookDelivery]:
    """Pending deliveries due now and not leased, leased to the caller."""
    statement = (
        select(WebhookDelivery)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if _dialect(session) == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    rows = list((await session.scalars(statement)).all())
    for row in rows:
        row.leased_until = lease_until
    await session.flush()
    return rows


async def lock_delivery(session: AsyncSession, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    return (
        await session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
        )
    ).first()
