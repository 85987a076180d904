"""Programmes: an SOP version bound to agencies and agreements by the agency that runs it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, Timestamped, new_id


class Programme(Timestamped, Base):
    """An SOP version run by one agency (the owner of the cases), its roles bound to agencies
    and its stages covered by agreements (DESIGN §7)."""

    __tablename__ = "programmes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    sop_id: Mapped[str] = mapped_column(String(64))
    sop_version: Mapped[str] = mapped_column(String(32))
    #: role -> slug, list of slugs, or nationality -> either (``sop.bindings``).
    bindings: Mapped[dict[str, Any]] = mapped_column(JSON)
    agreements: Mapped[list[str]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: stage id -> ISO 8601 duration, from the readmission agreement (issue 16): overrides the
    #: SOP's default ``due`` for that stage.
    deadlines: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    @property
    def sop(self) -> str:
        return f"{self.sop_id}@{self.sop_version}"
