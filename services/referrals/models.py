"""Referrals as each side holds them. A referral has one id across nodes; each agency keeps its
own row (the sender its outgoing row, the recipient its incoming row)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, new_id, utcnow


class Referral(Base):
    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("referral_id", "agency"),
        # Listings page newest first by ``id`` (UUIDv7) within one agency, often of one status
        # or one direction: read in index order, a page costs the same at 10^6 rows as at 10^4
        # (issue 19).
        Index("ix_referrals_agency_id", "agency", "id"),
        Index("ix_referrals_agency_status_id", "agency", "status", "id"),
        Index("ix_referrals_agency_direction_id", "agency", "direction", "id"),
    )

    #: Row id: time-ordered, what listings page on.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: The referral's id at every node (the sender chooses it).
    referral_id: Mapped[str] = mapped_column(String(36), index=True)
    agency: Mapped[str] = mapped_column(String(32), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    counterpart: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    agreement_id: Mapped[str] = mapped_column(String(64))
    agreement_version: Mapped[int] = mapped_column(Integer)
    consent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    categories: Mapped[list[str]] = mapped_column(JSON)
    #: The SOP stage and journey this referral serves, when a journey drafted it.
    stage: Mapped[str | None] = mapped_column(String(64), index=True)
    journey_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    respond_by: Mapped[datetime | None]
    drafted_by: Mapped[str] = mapped_column(String(120))
    approved_by: Mapped[str | None] = mapped_column(String(120))
    #: The drafter's note to the approver, sealed under the case key; it never leaves the node.
    note_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: This row's data key (received content, or results sent back), wrapped by the master key.
    #: Destroying it erases the content: crypto-shredding (DESIGN §4).
    data_key_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The decline reason, sealed under this row's data key: the focal point's words may be
    #: about the person, so they travel sealed and are erased with the content.
    reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Incoming: the scope of the consent the referral cites, as the sender's signed body
    #: carried it (purposes, recipients, categories, validity; nothing about the person).
    consent_scope: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Outgoing, ``refused_by_recipient``: every reason of the recipient's signed refusal.
    refusal: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    outcome: Mapped[str | None] = mapped_column(String(64))
    #: The envelope that carried the referral (outgoing: sent; incoming: received).
    message_id: Mapped[str | None] = mapped_column(String(36))
    erasure_requested_at: Mapped[datetime | None]
    erasure_due_at: Mapped[datetime | None] = mapped_column(index=True)
    erased_at: Mapped[datetime | None]
    erasure_reason: Mapped[str | None] = mapped_column(String(64))
    #: When the sender's admins were told the recipient's receipt is overdue (DESIGN §6).
    erasure_flagged_at: Mapped[datetime | None]
    #: The recipient's signed erasure receipt, held by the sender.
    erasure_receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferralData(Base):
    """One category of a referral's content, sealed under the referral's data key."""

    __tablename__ = "referral_data"

    referral_row: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class BreakGlassGrant(Base):
    """A focal point opened a withheld category once, with a reason, for a limited time."""

    __tablename__ = "break_glass_grants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    referral_row: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(120))
    #: The written reason, sealed under the referral's data key.
    reason_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
