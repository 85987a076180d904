"""Households: cases of one agency linked as a family, each member with their relationship."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from contracts.family import Relationship
from kit.db.base import Base, new_id, utcnow

_RELATIONSHIPS = ", ".join(f"'{r.value}'" for r in Relationship)


class Household(Base):
    """A household at the agency that records its cases. It holds nothing personal: its
    members are case ids and relationships."""

    __tablename__ = "households"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), index=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class HouseholdMember(Base):
    """One case of a household. A case may belong to more than one household (a child whose
    parents live apart); the family-unity rule holds in each."""

    __tablename__ = "household_members"
    __table_args__ = (CheckConstraint(f"relationship IN ({_RELATIONSHIPS})", name="relationship"),)

    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), primary_key=True, index=True)
    relationship: Mapped[str] = mapped_column(String(16))
    #: The member's place in the household as recorded, so it reads back in that order.
    position: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
