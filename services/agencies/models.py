from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, Timestamped


class Agency(Timestamped, Base):
    """An agency hosted on this node. Agencies elsewhere are known from the directory."""

    __tablename__ = "agencies"

    slug: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The state a government acts for (ISO 3166-1 alpha-3), for its directory entry (DESIGN §4).
    country: Mapped[str | None] = mapped_column(String(3))
    #: The IANA time zone the console shows the agency's people times in, unless they chose one.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
