"""Consents as recorded by the agency that holds the case (DESIGN §5).

The terms (purposes, recipients, categories, who gave it and how, until when) are what the
policy decision and every referral cite, and name no one, so they are stored as they are. The
child's views and a withdrawal's stated reason are the person's own words: sealed under the
case's data key, like the case data they belong with.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, new_id


class Consent(Base):
    """Never edited in substance: a change is a new row that supersedes this one; a withdrawal
    sets ``status``, ``withdrawn_at`` and nothing else."""

    __tablename__ = "consents"
    # Expired is not stored: it follows from valid_until (contracts.consent.effective_status).
    __table_args__ = (
        CheckConstraint("status IN ('given', 'withdrawn', 'superseded')", name="status"),
        CheckConstraint(
            "given_by IN ('self', 'guardian', 'legal_representative')", name="given_by"
        ),
        CheckConstraint("method IN ('written', 'verbal', 'electronic')", name="method"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), index=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)
    given_by: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(16))
    #: ``contracts.consent.ChildViews`` as JSON, sealed under the case data key.
    child_views_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    valid_until: Mapped[datetime]
    evidence_ref: Mapped[str | None] = mapped_column(String(120))
    given_at: Mapped[datetime]
    #: ``user:<uuid>`` or ``client:<client_id>``: who recorded it, not who gave it.
    recorded_by: Mapped[str] = mapped_column(String(120))
    supersedes: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consents.id"))
    superseded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consents.id"))
    superseded_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    withdrawal_reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
