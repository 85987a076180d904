"""Journeys: a case walking a programme's SOP."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, new_id, utcnow


class Journey(Base):
    """A case walking a programme. ``state`` is ``sop.engine.JourneyState`` (stage ids and
    times, nothing personal); facts recorded along the way are sealed under the case key."""

    __tablename__ = "journeys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), index=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programmes.id"), index=True)
    stage: Mapped[str] = mapped_column(String(64), index=True)
    ended: Mapped[bool] = mapped_column(default=False)
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    facts_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The referral drafted for the current stage, if another agency acts there.
    referral_id: Mapped[str | None] = mapped_column(String(36))
    #: The authority picked for the current stage where its role is bound per nationality
    #: (DESIGN §7); other roles act as the programme binds them.
    acting_agency: Mapped[str | None] = mapped_column(String(32))
    #: Why the current stage's referral could not be drafted (policy reasons), if so.
    blocked: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: The stage whose deadline has been reported overdue (once per visit).
    overdue_reported: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
