"""The node's access-token signing keys: Ed25519, published at /.well-known/jwks.json.

Keys are created by ``accord init`` or on first start, live for a year, and are rotated by
adding a newer key; older ones stay published until they expire so that tokens they signed
keep verifying.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import KeySet, OKPKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from kit.db.base import new_id, utcnow
from kit.master_key import unwrap, wrap

from .models import NodeKey

TOKEN_KEY_PURPOSE = "access-token"
TOKEN_KEY_LIFETIME = timedelta(days=365)
#: RFC 8037 / RFC 9068 with the "EdDSA" identifier: RFC 9864's fully specified "Ed25519" is
#: not yet accepted by widely used verifiers (PyJWT 2.15), so DESIGN §3 keeps "EdDSA".
TOKEN_ALG = "EdDSA"


def _context(kid: str) -> bytes:
    return f"accord/node-key/{kid}".encode()


@dataclass(frozen=True)
class TokenKeys:
    """The key that signs new tokens and every published key that may still verify one."""

    signing_kid: str
    signing_key: OKPKey
    verification: KeySet
    #: Tokens these keys verified (``auth.tokens.VerifiedTokens``), dropped with them.
    verified: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.verified is None:
            from .tokens import VerifiedTokens  # tokens imports this module

            object.__setattr__(self, "verified", VerifiedTokens())

    def jwks(self) -> dict[str, Any]:
        return dict(self.verification.as_dict(private=False))


def _new_key(master_key: bytes, now: datetime) -> NodeKey:
    private = Ed25519PrivateKey.generate()
    kid = f"tok-{new_id().hex[:16]}"
    raw = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jwk = OKPKey.import_key(private.public_key(), {"kid": kid, "use": "sig", "alg": TOKEN_ALG})
    return NodeKey(
        kid=kid,
        purpose=TOKEN_KEY_PURPOSE,
        algorithm=TOKEN_ALG,
        public_jwk=jwk.as_dict(private=False),
        private_wrapped=wrap(master_key, raw, _context(kid)),
        not_before=now,
        expires_at=now + TOKEN_KEY_LIFETIME,
        created_at=now,
    )


def ensure_token_key(session: Session, master_key: bytes, now: datetime | None = None) -> bool:
    """Create a signing key when none is valid now; returns whether one was created."""
    now = now or utcnow()
    current = session.scalars(
        select(NodeKey).where(
            NodeKey.purpose == TOKEN_KEY_PURPOSE,
            NodeKey.not_before <= now,
            NodeKey.expires_at > now,
        )
    ).first()
    if current is not None:
        return False
    session.add(_new_key(master_key, now))
    session.flush()
    return True


def rotate_token_key(session: Session, master_key: bytes, now: datetime | None = None) -> str:
    key = _new_key(master_key, now or utcnow())
    session.add(key)
    session.flush()
    return key.kid


def load_token_keys(session: Session, master_key: bytes, now: datetime | None = None) -> TokenKeys:
    now = now or utcnow()
    rows = session.scalars(
        select(NodeKey)
        .where(NodeKey.purpose == TOKEN_KEY_PURPOSE, NodeKey.expires_at > now)
        .order_by(NodeKey.not_before.desc(), NodeKey.kid.desc())
    ).all()
    usable = [row for row in rows if row.not_before <= now]
    if not usable:
        raise LookupError("no access-token signing key: run `accord init`")
    newest = usable[0]
    raw = unwrap(master_key, newest.private_wrapped, _context(newest.kid))
    private = Ed25519PrivateKey.from_private_bytes(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signing = OKPKey.import_key(private, {"kid": newest.kid, "alg": TOKEN_ALG})
        public = KeySet([OKPKey.import_key(row.public_jwk) for row in rows])
    return TokenKeys(signing_kid=newest.kid, signing_key=signing, verification=public)


class TokenKeyHolder:
    """The running app's token keys, reloaded when a token names a kid we have not seen (a
    rotation by another process), at most once every ``min_interval`` seconds."""

    def __init__(self, loader: Any, *, min_interval: float = 5.0) -> None:
        self._loader = loader
        self._keys: TokenKeys | None = None
        self._loaded_at = 0.0
        self._min_interval = min_interval

    async def current(self) -> TokenKeys:
        if self._keys is None:
            await self.refresh(force=True)
        assert self._keys is not None  # noqa: S101 - refresh(force=True) sets it or raises
        return self._keys

    async def refresh(self, *, force: bool = False) -> bool:
        import time

        now = time.monotonic()
        if not force and now - self._loaded_at < self._min_interval:
            return False
        self._keys = await self._loader()
        self._loaded_at = now
        return True
