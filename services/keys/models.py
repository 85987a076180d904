from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, Timestamped


class AgencyKey(Timestamped, Base):
    """An agency's signing or encryption key. The private half is wrapped by the master key."""

    __tablename__ = "agency_keys"

    #: RFC 7638 thumbprint of the public JWK (contracts.keys).
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), index=True)
    #: ``ed25519``, ``hpke-x25519`` or ``hpke-mlkem768-x25519``.
    kind: Mapped[str] = mapped_column(String(32))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime]
    expires_at: Mapped[datetime]
