"""SOP definitions available on this node, per agency."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, Timestamped


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
