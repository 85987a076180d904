from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, new_id, utcnow


class AuditHead(Base):
    """The newest event of each agency's chain. Appends lock this row (``FOR UPDATE`` on
    PostgreSQL; SQLite's write lock serialises them anyway), so two requests never both
    extend the chain from the same event."""

    __tablename__ = "audit_heads"

    agency: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class AuditEvent(Base):
    """Append-only. Holds who did what to which record, never the personal data itself."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("agency", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: ``user:<uuid>``, ``client:<client_id>`` or ``node`` for the node's own workers.
    actor: Mapped[str] = mapped_column(String(120), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    referral_id: Mapped[str | None] = mapped_column(String(36), index=True)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    purpose: Mapped[str | None] = mapped_column(String(64))
    #: Non-personal particulars: statuses, reasons codes, counterpart agencies.
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    break_glass: Mapped[bool] = mapped_column(Boolean, default=False)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed checkpoint of an agency's chain (``contracts.audit_chain.Checkpoint``): the
    agency's Ed25519 signature over ``{"agency", "seq", "hash", "at"}``. Never updated; one per
    sequence number, so two writers checkpointing the same head cannot both succeed."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("agency", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    #: The signing key's kid (RFC 7638 thumbprint) and the base64url Ed25519 signature; the
    #: algorithm is always EdDSA.
    kid: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
