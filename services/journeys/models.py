"""SOP definitions available on this node, the programmes that bind them, and journeys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, Timestamped, new_id, utcnow


class SopDefinition(Timestamped, Base):
    """A verified SOP definition (YAML as written), by id and semver. Never edited: a change
    is a new version, and journeys stay pinned to the version they started on.

    It belongs to the agency whose admin uploaded it: other agencies on the node neither list
    nor run it unless they upload it too, which gives them a row of their own (issue 13). So
    ``id@version`` is unique per agency, not per node."""

    __tablename__ = "sop_definitions"

    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(String(120))


class Programme(Timestamped, Base):
    """An SOP version run by one agency (the owner of the cases), its roles bound to agencies
    and its stages covered by agreements (DESIGN §7)."""

    __tablename__ = "programmes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    sop_id: Mapped[str] = mapped_column(String(64))
    sop_version: Mapped[str] = mapped_column(String(32))
    bindings: Mapped[dict[str, str]] = mapped_column(JSON)
    agreements: Mapped[list[str]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


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
    #: Why the current stage's referral could not be drafted (policy reasons), if so.
    blocked: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: The stage whose deadline has been reported overdue (once per visit).
    overdue_reported: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
