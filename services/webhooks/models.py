"""Webhook subscriptions and their deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, new_id, utcnow

DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")


class Webhook(Base):
    """An agency system's subscription: where to POST which event types, and the secret that
    signs them. The secret is stored wrapped under the node master key (it must be read back
    to sign, so it cannot be hashed); it is shown once, when made."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_agency_id", "agency", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret_wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    #: After a rotation, the secret before it, which also signs until ``previous_until``.
    previous_secret_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_until: Mapped[datetime | None]
    #: The newest event id the worker has made deliveries up to (None: none yet).
    cursor: Mapped[uuid.UUID | None]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Unsubscribed: no new deliveries; pending ones are cancelled. The row stays as the
    #: record of what was delivered where.
    deleted_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One event to one subscription. Its id is the ``webhook-id`` header: the same for every
    attempt and every redelivery, so a receiver can tell a retry from a new event."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed', 'cancelled')", name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_status", "webhook_id", "status", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id"))
    agency: Mapped[str] = mapped_column(String(32))
    #: Not a foreign key: the event log is pruned (``event_retention_days``), deliveries stay.
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Retried until then, then ``failed`` (24 h from creation or from a redelivery).
    retry_until: Mapped[datetime]
    leased_until: Mapped[datetime | None]
    #: The receiver's HTTP status of the last attempt, if it answered.
    last_status: Mapped[int | None] = mapped_column(Integer)
    #: A code for the last failure (``http_503``, ``connect_error``, ``refused_address``):
    #: never the receiver's body, never the URL.
    last_error: Mapped[str | None] = mapped_column(String(64))
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def delivery_payload(event: Any) -> dict[str, Any]:
    """The body of a delivery: exactly the event, without its id (which the headers carry)."""
    return {"type": event.type, "timestamp": event.timestamp.isoformat(), "data": event.data}
