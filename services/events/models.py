"""The event log: what changed, at which agency, in the same transaction as the change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, new_id, utcnow


class Event(Base):
    """One state change of a referral, consent, erasure, agreement or journey, as the agency
    whose record changed sees it (DESIGN §10). Append-only; ``data`` holds ids, statuses and
    codes only (``services.events.schemas.EventData``), so the log can be served as a feed and
    as webhooks without ever carrying personal data."""

    __tablename__ = "events"
    # The feed reads one agency's events after a cursor, in id (time) order.
    __table_args__ = (Index("ix_events_agency_id", "agency", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    #: Dotted: the record's kind, then what happened to it (``referral.declined``).
    type: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
