"""Tables of identity and access: people, API clients, and the OAuth artefacts they hold."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kit.db.base import Base, Timestamped, new_id, utcnow


class User(Timestamped, Base):
    """A person at an agency: signs in to the console, approves and accepts referrals."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("language IN ('en', 'fr', 'es', 'ar')", name="language"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), index=True)
    #: Stored lower-cased; sign-in is by e-mail, so it is unique on the node.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The console language the person chose (``kit.i18n.LANGUAGES``); None: the browser's.
    language: Mapped[str | None] = mapped_column(String(8))
    #: The IANA time zone the console shows times in; None: the agency's.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiClient(Timestamped, Base):
    """An agency system calling the API, or the console's own authorization-code client."""

    __tablename__ = "api_clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: ``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` or ``none``.
    auth_methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_hash: Mapped[str | None] = mapped_column(String(128))
    #: The client's public JWK Set for ``private_key_jwt`` (RFC 7523).
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuthorizationCode(Base):
    __tablename__ = "oauth_authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    expires_at: Mapped[datetime]


class RefreshToken(Base):
    """Rotated on every use; a second use of one revokes its whole family (RFC 9700 §4.14)."""

    __tablename__ = "oauth_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class RevokedToken(Base):
    """Access tokens revoked before expiry (RFC 7009), by ``jti`` or by refresh family."""

    __tablename__ = "oauth_revoked_tokens"

    #: ``jti:<jti>`` for one access token, ``family:<uuid>`` for every token of a family.
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class UsedAssertion(Base):
    """``jti`` of client assertions already presented: RFC 7523 §3 item 7 replay defence."""

    __tablename__ = "oauth_used_assertions"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime]


class AuthAttempt(Base):
    """A sign-in or token request whose credential has not been shown to be right.

    Written before the credential is checked and deleted once it proves right, so a row is a
    failure or an attempt still in flight. Kept no longer than the throttle looks back.
    """

    __tablename__ = "auth_attempts"
    __table_args__ = (Index("ix_auth_attempts_account_address_at", "account", "address", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: SHA-256 of the account's name: people type passwords into the e-mail field.
    account: Mapped[str] = mapped_column(String(64))
    #: The client's address, or its /64 network for IPv6 (``auth.throttle.address_key``).
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)


class NodeKey(Timestamped, Base):
    """The node's own signing keys (access tokens). Private halves wrapped by the master key."""

    __tablename__ = "node_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32), index=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime]
    expires_at: Mapped[datetime]


class ConsoleSession(Base):
    """A signed-in person's browser session. Only a hash of the cookie value is stored."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
