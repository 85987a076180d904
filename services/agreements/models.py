from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKeyConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, utcnow


class AgreementRow(Base):
    """One version of a data-sharing agreement, as this node holds it.

    Every party's node holds its own copy, kept in step by ``agreement.*`` messages; a node
    hosting two parties holds one copy for both. ``state`` is ``contracts.agreements.
    AgreementState`` as JSON: the terms, signatures and history, all non-personal.
    """

    __tablename__ = "agreements"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: The stored status (``effective_status`` adds expiry by date).
    status: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AgreementParty(Base):
    """Which agencies are parties to which agreement version: what tenancy filters on."""

    __tablename__ = "agreement_parties"
    __table_args__ = (
        ForeignKeyConstraint(
            ["agreement_id", "version"],
            ["agreements.id", "agreements.version"],
            ondelete="CASCADE",
        ),
    )

    agreement_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agency: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    purpose_list: Mapped[list[str]] = mapped_column(JSON, default=list)
