"""Throttling sign-ins and token requests: slow an attacker down, never lock the owner out.

Two rules (issue 13):

- Per (account, client address): ``PAIR_LIMIT`` failures within ``WINDOW`` lock that pair for
  ``PAIR_LOCK``. Only that pair: the owner signing in from anywhere else is not refused, and
  failures older than the window no longer count.
- Per account over all addresses: each failure after the ``ACCOUNT_FREE``-th within the window
  makes the next attempt wait one more second, at most ``MAX_DELAY``. A delay, never a
  refusal, so that failures by others cannot keep the owner out.

Attempts live in the database, not in memory, so that several API processes share one count
and a restart does not reset an attacker's clock: one row per attempt, so that recording one is
an insert and parallel attempts never contend for a counter row. An attempt is written, and
committed, *before* its credential is checked, and counts as a failure until it proves right:
otherwise a burst of parallel guesses would all pass the check before the first had failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from ipaddress import IPv6Network

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db.base import new_id, utcnow
from kit.db.session import Database
from kit.http.client_address import parse_address

from .models import AuthAttempt

WINDOW = timedelta(minutes=15)
PAIR_LIMIT = 5
PAIR_LOCK = timedelta(minutes=15)
ACCOUNT_FREE = 20
DELAY_STEP = 1.0
MAX_DELAY = 5.0
#: A whole IPv6 /64 usually belongs to one subscriber, who can use any of its 2^64 addresses.
IPV6_PREFIX = 64


@dataclass(frozen=True)
class Policy:
    window: timedelta = WINDOW
    pair_limit: int = PAIR_LIMIT
    pair_lock: timedelta = PAIR_LOCK
    account_free: int = ACCOUNT_FREE
    delay_step: float = DELAY_STEP
    max_delay: float = MAX_DELAY

    @property
    def horizon(self) -> timedelta:
        """How far back a failure can still matter: a lock ends ``pair_lock`` after the last of
        ``pair_limit`` failures that began up to ``window`` before it."""
        return self.window + self.pair_lock


def pair_locked_until(failures: Sequence[datetime], policy: Policy) -> datetime | None:
    """When the pair's latest lock ends: ``pair_limit`` failures within ``window`` lock it for
    ``pair_lock`` from the last of them (a sliding window, not fixed buckets)."""
    ordered = sorted(failures)
    first = policy.pair_limit - 1
    ends = [
        ordered[last] + policy.pair_lock
        for last in range(first, len(ordered))
        if ordered[last] - ordered[last - first] < policy.window
    ]
    return max(ends, default=None)


def account_delay(failures: int, policy: Policy) -> float:
    """Seconds the next attempt on an account waits, given its failures within the window."""
    over = max(0, failures - policy.account_free)
    return min(over * policy.delay_step, policy.max_delay)


def account_key(account: str) -> str:
    """What an account is stored as: people type passwords into the e-mail field, and this
    table should not keep them."""
    return hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()


def address_key(address: str | None) -> str:
    parsed = parse_address(address)
    if parsed is None:
        # No IP address (a Unix socket): every such caller shares one pair.
        return (address or "-")[:64]
    if parsed.version == 6:
        return str(IPv6Network((parsed, IPV6_PREFIX), strict=False))
    return str(parsed)


@dataclass(frozen=True)
class Attempt:
    """An attempt on an account from an address, as the throttle admitted it."""

    account: str
    address: str
    #: Seconds until the pair's lock ends; ``None`` when it is not locked. A locked attempt is
    #: not recorded.
    locked_for: int | None
    #: Seconds this attempt waited for the account's earlier failures.
    delay: float
    id: uuid.UUID | None = None


async def record_attempt(
    session: AsyncSession,
    *,
    account: str,
    address: str | None,
    now: datetime,
    policy: Policy,
) -> Attempt:
    """Prune what no longer counts, read the pair's lock and the account's failures, and record
    this attempt unless the pair is locked."""
    key, where = account_key(account), address_key(address)
    await _one_at_a_time(session, key, where)
    await session.execute(delete(AuthAttempt).where(AuthAttempt.at <= now - policy.horizon))
    pair = (
        await session.scalars(
            select(AuthAttempt.at).where(
                AuthAttempt.account == key,
                AuthAttempt.address == where,
                AuthAttempt.at > now - policy.horizon,
            )
        )
    ).all()
    until = pair_locked_until(pair, policy)
    if until is not None and until > now:
        locked_for = max(1, math.ceil((until - now).total_seconds()))
        return Attempt(account=key, address=where, locked_for=locked_for, delay=0.0)
    failures = await session.scalar(
        select(func.count())
        .select_from(AuthAttempt)
        .where(AuthAttempt.account == key, AuthAttempt.at > now - policy.window)
    )
    row = AuthAttempt(id=new_id(), account=key, address=where, at=now)
    session.add(row)
    await session.flush()
    return Attempt(
        account=key,
        address=where,
        locked_for=None,
        delay=account_delay(failures or 0, policy),
        id=row.id,
    )


async def _one_at_a_time(session: AsyncSession, account: str, address: str) -> None:
    """Serialise attempts on one pair between reading its lock and recording, so that parallel
    attempts cannot all read "not locked". SQLite's ``BEGIN IMMEDIATE`` already serialises every
    writer; PostgreSQL takes a transaction-scoped advisory lock on the pair."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"{account}|{address}".encode()).digest()
    lock_id = int.from_bytes(digest[:8], "big", signed=True)
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


async def succeeded(session: AsyncSession, attempt: Attempt) -> None:
    """The credential was right: the pair's failures are forgiven. Failures from other
    addresses stay, and keep slowing the account down."""
    await session.execute(
        delete(AuthAttempt).where(
            AuthAttempt.account == attempt.account, AuthAttempt.address == attempt.address
        )
    )


async def forget(session: AsyncSession, attempt: Attempt) -> None:
    """Neither right nor wrong (a token request refused for its scope, say): it does not count."""
    if attempt.id is not None:
        await session.execute(delete(AuthAttempt).where(AuthAttempt.id == attempt.id))


@dataclass(frozen=True)
class Throttle:
    """The throttle a running app uses (``app.state.throttle``); tests give it a clock and a
    sleep of their own."""

    policy: Policy = field(default_factory=Policy)
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def admit(self, db: Database, *, account: str, address: str | None) -> Attempt:
        """Record an attempt in a transaction of its own, then wait out the account's delay.

        Its own transaction, committed at once: parallel attempts must see it, and the delay
        must hold no database connection (and, on SQLite, no write lock).
        """
        async with db.sessions.begin() as session:
            attempt = await record_attempt(
                session, account=account, address=address, now=self.clock(), policy=self.policy
            )
        if attempt.delay > 0:
            await self.sleep(attempt.delay)
        return attempt
