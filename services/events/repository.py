"""Every query on the event log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Event

_EVENTS = cast(Table, Event.__table__)
# Core, built once: every state change appends an event, and an ORM flush per event cost
# three times the CPU of the INSERT itself (issue 19). The log is append-only, so the row
# never needs the ORM's change tracking.
_ADD = insert(_EVENTS)


async def add(session: AsyncSession, event: Event) -> Event:
    await session.execute(
        _ADD, {column.key: getattr(event, column.key) for column in _EVENTS.columns}
    )
    return event


def id_floor(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 (RFC 9562 §5.7) of ``moment``'s millisecond: every event id made at
    or after ``moment`` sorts above it, every one made before it below. Ids are compared as
    the database compares them (bytes on PostgreSQL, hex text on SQLite: the same order)."""
    millis = int(moment.timestamp() * 1000)
    return uuid.UUID(int=millis << 80)


async def of_agency(
    session: AsyncSession,
    *,
    agency: str,
    after: uuid.UUID | None = None,
    types: Sequence[str] = (),
    limit: int = 200,
    before: datetime | None = None,
) -> Sequence[Event]:
    """``agency``'s events, oldest first, strictly after the event ``after``: the shape of a
    resumable feed (``GET /v1/events?after=``). ``before``: only events whose id was made
    before that moment (the feed's settle window)."""
    statement = select(Event).where(Event.agency == agency)
    if after is not None:
        statement = statement.where(Event.id > after)
    if before is not None:
        statement = statement.where(Event.id < id_floor(before))
    if types:
        statement = statement.where(Event.type.in_(list(types)))
    return (await session.scalars(statement.order_by(Event.id).limit(limit))).all()


async def prune(session: AsyncSession, *, older_than: datetime) -> int:
    """Delete events made before ``older_than``; returns how many."""
    result = await session.execute(delete(Event).where(Event.id < id_floor(older_than)))
    return int(getattr(result, "rowcount", 0) or 0)
