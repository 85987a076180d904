"""Exponential backoff after repeated failures, per account and per source address.

Counted in the database, not in memory, so that several API processes share one count and a
restart does not reset an attacker's clock. Five failures are free (typos happen); after that
each further failure doubles the lock, up to fifteen minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.db.base import utcnow

from .models import AuthThrottle

FREE_FAILURES = 5
MAX_LOCK = timedelta(minutes=15)


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


def throttle_keys(*, account: str | None, address: str | None) -> list[str]:
    keys = []
    if account:
        keys.append(f"account:{account}"[:400])
    if address:
        keys.append(f"address:{address}"[:400])
    return keys


def check(session: Session, keys: list[str], now: datetime | None = None) -> None:
    now = now or utcnow()
    if not keys:
        return
    rows = session.scalars(select(AuthThrottle).where(AuthThrottle.key.in_(keys))).all()
    waits = [row.locked_until - now for row in rows if row.locked_until and row.locked_until > now]
    if waits:
        raise Throttled(max(1, int(max(waits).total_seconds() + 0.999)))


def record_failure(session: Session, keys: list[str], now: datetime | None = None) -> None:
    now = now or utcnow()
    for key in keys:
        row = session.get(AuthThrottle, key)
        if row is None:
            row = AuthThrottle(key=key, failures=0)
            session.add(row)
        row.failures += 1
        row.updated_at = now
        if row.failures >= FREE_FAILURES:
            lock = timedelta(seconds=2 ** (row.failures - FREE_FAILURES))
            row.locked_until = now + min(lock, MAX_LOCK)
    session.flush()


def record_success(session: Session, account_key: str) -> None:
    """A success clears the account's count; the address keeps its own."""
    row = session.get(AuthThrottle, account_key)
    if row is not None:
        session.delete(row)
        session.flush()
