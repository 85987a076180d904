"""Subscribing, unsubscribing, rotating secrets and redelivering: one transaction each.

Deliveries themselves are made by :mod:`services.webhooks.worker`, from the event log.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from kit.db.base import new_id, utcnow
from kit.errors import Conflict, NotFound, ValidationFailed
from kit.master_key import unwrap, wrap
from services.audit import service as audit
from services.events.types import KNOWN

from . import repository, signing, targets
from .models import Webhook, WebhookDelivery


def _context(webhook_id: uuid.UUID) -> bytes:
    return b"accord/webhook-secret/" + webhook_id.bytes


def wrap_secret(master_key: bytes, webhook_id: uuid.UUID, secret: str) -> bytes:
    return wrap(master_key, secret.encode(), _context(webhook_id))


def signing_secrets(master_key: bytes, webhook: Webhook, *, now: datetime) -> list[str]:
    """The secrets that sign a delivery made at ``now``: the current one, and the one before
    it while the rotation's overlap lasts."""
    found = [unwrap(master_key, webhook.secret_wrapped, _context(webhook.id)).decode()]
    if (
        webhook.previous_secret_wrapped is not None
        and webhook.previous_until is not None
        and now < webhook.previous_until
    ):
        found.append(
            unwrap(master_key, webhook.previous_secret_wrapped, _context(webhook.id)).decode()
        )
    return found


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message,
        extra={"errors": [{"location": f"body.{field}", "message": message, "type": "value"}]},
    )


async def create(
    session: AsyncSession,
    *,
    principal: Principal,
    master_key: bytes,
    url: str,
    event_types: list[str],
    dev: bool,
) -> tuple[Webhook, str]:
    """Subscribe ``url`` to ``event_types`` of the caller's agency; returns the row and its
    secret, which is never shown again."""
    problem = targets.url_problem(url, dev=dev)
    if problem is not None:
        raise _invalid("url", problem)
    unknown = [t for t in event_types if t not in KNOWN]
    if unknown:
        raise _invalid(
            "event_types",
            f"{len(unknown)} event type(s) this node does not know; the OpenAPI document's "
            "`webhooks` section lists every type.",
        )
    webhook_id = new_id()
    secret = signing.new_secret()
    now = utcnow()
    webhook = Webhook(
        id=webhook_id,
        agency=principal.agency,
        url=url,
        event_types=sorted(set(event_types)),
        secret_wrapped=wrap_secret(master_key, webhook_id, secret),
        created_by=audit.actor_of(principal),
        created_at=now,
    )
    session.add(webhook)
    await session.flush()
    await audit.record_by(
        session,
        principal,
        "webhook.created",
        audit.Subject("webhook", webhook.id),
        detail={"event_types": webhook.event_types},
    )
    return webhook, secret


async def get(session: AsyncSession, *, principal: Principal, webhook_id: uuid.UUID) -> Webhook:
    webhook = await repository.get_for(session, principal, webhook_id)
    if webhook is None:
        raise NotFound("No such webhook at your agency.")
    return webhook


async def delete(session: AsyncSession, *, principal: Principal, webhook_id: uuid.UUID) -> None:
    webhook = await repository.get_for(session, principal, webhook_id, lock=True)
    if webhook is None:
        raise NotFound("No such webhook at your agency.")
    webhook.deleted_at = utcnow()
    await repository.cancel_pending(session, webhook)
    await audit.record_by(
        session, principal, "webhook.deleted", audit.Subject("webhook", webhook.id)
    )


async def rotate(
    session: AsyncSession,
    *,
    principal: Principal,
    master_key: bytes,
    webhook_id: uuid.UUID,
    overlap: timedelta,
) -> tuple[Webhook, str]:
    """A new secret, shown once; the current one keeps signing beside it for ``overlap``, so
    a receiver can switch without losing a delivery. A second rotation within the overlap
    drops the oldest."""
    webhook = await repository.get_for(session, principal, webhook_id, lock=True)
    if webhook is None:
        raise NotFound("No such webhook at your agency.")
    secret = signing.new_secret()
    webhook.previous_secret_wrapped = webhook.secret_wrapped
    webhook.previous_until = utcnow() + overlap
    webhook.secret_wrapped = wrap_secret(master_key, webhook.id, secret)
    await session.flush()
    await audit.record_by(
        session, principal, "webhook.secret_rotated", audit.Subject("webhook", webhook.id)
    )
    return webhook, secret


async def redeliver(
    session: AsyncSession,
    *,
    principal: Principal,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    retry_for: timedelta,
) -> WebhookDelivery:
    """Send a failed (or delivered) delivery again, with the same ``webhook-id``, retried
    afresh for ``retry_for``."""
    webhook = await get(session, principal=principal, webhook_id=webhook_id)
    delivery = await repository.delivery_for(session, webhook, delivery_id)
    if delivery is None:
        raise NotFound("No such delivery of this webhook.")
    if delivery.status == "pending":
        raise Conflict(
            "This delivery is still being attempted; wait for it to fail or succeed.",
            extra={"current_status": delivery.status},
        )
    now = utcnow()
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.retry_until = now + retry_for
    delivery.leased_until = None
    delivery.delivered_at = None
    await session.flush()
    await audit.record_by(
        session,
        principal,
        "webhook.redelivered",
        audit.Subject("webhook", webhook.id),
        detail={"delivery_id": str(delivery.id)},
    )
    return delivery
