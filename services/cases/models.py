"""Cases at the owning agency: every personal value sealed under the case's own data key.

DESIGN §4 "At rest" and §6: category data and profile facts are AES-256-GCM ciphertext under a
per-case data key, which is stored only wrapped by the node master key. A database dump holds
no category content and no profile fact in the clear, and erasing ``data_key_wrapped`` erases
the whole case (crypto-shredding). What stays in the clear is what tenancy, paging and the
``withheld`` list need: the agency, the agency's own reference, timestamps, and which
categories a case holds.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from contracts.categories import Category
from kit.db.base import Base, Timestamped, new_id, utcnow

_CATEGORY_NAMES = ", ".join(f"'{c.value}'" for c in Category)


class Case(Timestamped, Base):
    __tablename__ = "cases"
    # The agency's own reference identifies a case to its people and systems, so it is unique
    # inside the agency; two agencies may use the same numbering.
    __table_args__ = (UniqueConstraint("agency", "external_ref"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), index=True)
    external_ref: Mapped[str] = mapped_column(String(120))
    #: The case data key, wrapped by the master key (context ``accord/case-key/<id>``).
    data_key_wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    #: The profile facts as JSON, sealed under the case data key.
    profile_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    #: ``user:<uuid>`` or ``client:<client_id>`` (services.audit.service.actor_of).
    created_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseData(Base):
    """One category of one case, sealed; replaced whole by ``PUT .../data/{category}``."""

    __tablename__ = "case_data"
    __table_args__ = (CheckConstraint(f"category IN ({_CATEGORY_NAMES})", name="category"),)

    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
