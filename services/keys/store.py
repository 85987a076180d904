"""Agency keys on this node: created at ``accord init``, rotated by ``accord keys rotate``,
private halves wrapped by the master key (DESIGN §4)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.at_rest import unwrap_secret, wrap_secret
from contracts.keys import (
    KeyKind,
    NoUsableKey,
    PrivateKey,
    PublicKey,
    UnwrapFailed,
    current_key,
    generate_key,
)
from kit.db.base import utcnow
from kit.db.engine import READ_ONLY_OPTION

from .models import AgencyKey

KEY_LIFETIME = timedelta(days=365)
#: After a rotation the old key keeps opening and verifying until it expires; it is no longer
#: used for new messages once the new key is valid.
ALL_KINDS = (KeyKind.ED25519, KeyKind.X25519, KeyKind.MLKEM768_X25519)


def _context(kid: str) -> bytes:
    return f"accord/agency-key/{kid}".encode()


def _row(agency: str, key: PrivateKey, master_key: bytes) -> AgencyKey:
    return AgencyKey(
        kid=key.kid,
        agency=agency,
        kind=key.kind.value,
        public_jwk=key.public.to_jwk(),
        private_wrapped=wrap_secret(master_key, key.to_bytes(), _context(key.kid)),
        not_before=key.nbf,
        expires_at=key.exp,
        created_at=utcnow(),
    )


async def add_keys(
    session: AsyncSession,
    *,
    master_key: bytes,
    agency: str,
    now: datetime | None = None,
    lifetime: timedelta = KEY_LIFETIME,
) -> list[AgencyKey]:
    """A new key of every kind for ``agency``, valid from now; returns the rows added."""
    now = (now or utcnow()).replace(microsecond=0)
    rows = [
        _row(agency, generate_key(kind, nbf=now, exp=now + lifetime), master_key)
        for kind in ALL_KINDS
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def ensure_keys(session: AsyncSession, *, master_key: bytes, agency: str) -> bool:
    """Give ``agency`` keys if it has no valid key of some kind; returns whether it did."""
    now = utcnow()
    rows = await _rows(session, agency, valid_at=now)
    if {row.kind for row in rows} >= {kind.value for kind in ALL_KINDS}:
        return False
    await add_keys(session, master_key=master_key, agency=agency, now=now)
    return True


async def _rows(
    session: AsyncSession, agency: str, *, valid_at: datetime | None = None
) -> list[AgencyKey]:
    statement = select(AgencyKey).where(AgencyKey.agency == agency)
    if valid_at is not None:
        statement = statement.where(
            AgencyKey.not_before <= valid_at, AgencyKey.expires_at > valid_at
        )
    return list((await session.scalars(statement.order_by(AgencyKey.not_before))).all())


async def private_keys(
    session: AsyncSession, *, master_key: bytes, agency: str, include_expired: bool = False
) -> list[PrivateKey]:
    """Every private key of ``agency`` not yet expired (or all, for opening old messages)."""
    now = utcnow()
    rows = await _rows(session, agency)
    return [
        PrivateKey.from_bytes(unwrap_secret(master_key, row.private_wrapped, _context(row.kid)))
        for row in rows
        if include_expired or row.expires_at > now
    ]


async def signing_key(
    session: AsyncSession, *, master_key: bytes, agency: str, at: datetime | None = None
) -> PrivateKey:
    """The key ``agency`` signs with now: its newest valid Ed25519 key."""
    keys = await private_keys(session, master_key=master_key, agency=agency)
    return current_key(keys, KeyKind.ED25519, at=at or utcnow())


async def authenticated_signing_keys(
    session: AsyncSession, *, master_key: bytes, agency: str
) -> list[PublicKey]:
    """Every Ed25519 key ``agency`` ever signed with, expired ones included, to check old
    signatures (audit checkpoints) against.

    Each public key is derived from the private key the master key unwraps, not read from
    ``public_jwk``: someone who can write the database but lacks the master key cannot slip in
    a key of their own and sign with it. A row that does not unwrap is not trusted.
    """
    rows = await _rows(session, agency)
    keys = []
    for row in rows:
        if row.kind != KeyKind.ED25519.value:
            continue
        try:
            secret = unwrap_secret(master_key, row.private_wrapped, _context(row.kid))
        except UnwrapFailed:
            continue
        keys.append(PrivateKey.from_bytes(secret).public)
    return keys


async def public_jwks(session: AsyncSession, *, agency: str) -> dict[str, Any]:
    """The JWK Set to publish in the directory: every key of ``agency`` not yet expired."""
    now = utcnow()
    rows = await _rows(session, agency)
    return {"keys": [row.public_jwk for row in rows if row.expires_at > now]}


class KeyRing:
    """Private keys of the agencies hosted here, unwrapped once and kept for ``ttl`` seconds.

    Every message sent or received needs its agency's keys; unwrapping them from the database
    each time cost more than the cryptography. A rotation made by another process is seen
    within ``ttl``, or at once when a message names a kid not yet loaded (``refresh``).
    """

    def __init__(self, db: Any, master_key: bytes, ttl: float = 30.0) -> None:
        self.db = db
        self.master_key = master_key
        self.ttl = ttl
        self._cache: dict[str, tuple[float, list[PrivateKey]]] = {}

    async def private(self, agency: str, *, refresh: bool = False) -> list[PrivateKey]:
        now = time.monotonic()
        cached = self._cache.get(agency)
        if cached and not refresh and now - cached[0] < self.ttl:
            return cached[1]
        async with self.db.sessions() as session:
            await session.connection(execution_options={READ_ONLY_OPTION: True})
            keys = await private_keys(
                session, master_key=self.master_key, agency=agency, include_expired=True
            )
        self._cache[agency] = (now, keys)
        return keys

    async def signing(self, agency: str, *, at: datetime | None = None) -> PrivateKey:
        moment = at or utcnow()
        try:
            return current_key(await self.private(agency), KeyKind.ED25519, at=moment)
        except NoUsableKey:
            return current_key(await self.private(agency, refresh=True), KeyKind.ED25519, at=moment)

    async def by_kid(self, agency: str) -> dict[str, PrivateKey]:
        return {key.kid: key for key in await self.private(agency)}

    def forget(self, agency: str | None = None) -> None:
        if agency is None:
            self._cache.clear()
        else:
            self._cache.pop(agency, None)


async def of_agency(session: AsyncSession, *, agency: str) -> list[AgencyKey]:
    """Every key row of ``agency``, newest first, for its admins to review."""
    return list(
        (
            await session.scalars(
                select(AgencyKey)
                .where(AgencyKey.agency == agency)
                .order_by(AgencyKey.not_before.desc(), AgencyKey.kind)
            )
        ).all()
    )
