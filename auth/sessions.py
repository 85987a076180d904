"""Browser sessions for people signed in to the console (and to /oauth/authorize).

The cookie holds 256 random bits; the table holds only their hash, so a database dump cannot be
replayed as a session. Sessions end after ``session_idle_seconds`` without use and, whatever
happens, ``session_absolute_seconds`` after sign-in.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db.base import utcnow
from kit.settings import Settings

from . import csrf
from .models import ConsoleSession, User
from .passwords import hash_secret

SESSION_COOKIE = "accord_session"


async def open_session(
    session: AsyncSession, user: User, settings: Settings, now: datetime | None = None
) -> str:
    now = now or utcnow()
    value = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            id_hash=hash_secret(value),
            user_id=user.id,
            csrf_token=csrf.new_secret(),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.session_absolute_seconds),
        )
    )
    await session.flush()
    return value


async def current_session(
    session: AsyncSession, cookie: str | None, settings: Settings, now: datetime | None = None
) -> tuple[User, ConsoleSession] | None:
    """The signed-in person behind ``cookie``, or None; touching the session keeps it alive."""
    if not cookie:
        return None
    now = now or utcnow()
    row = await session.get(ConsoleSession, hash_secret(cookie))
    if row is None:
        return None
    idle_limit = row.last_seen_at + timedelta(seconds=settings.session_idle_seconds)
    if row.expires_at <= now or idle_limit <= now:
        await session.delete(row)
        await session.flush()
        return None
    user = await session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    row.last_seen_at = now
    await session.flush()
    return user, row


async def close_session(session: AsyncSession, cookie: str | None) -> None:
    if not cookie:
        return
    row = await session.get(ConsoleSession, hash_secret(cookie))
    if row is not None:
        await session.delete(row)
        await session.flush()


async def close_all(session: AsyncSession, user_id: uuid.UUID) -> None:
    """End every console session of a person: after a password reset, whoever knew the old
    password must not stay signed in."""
    await session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))
