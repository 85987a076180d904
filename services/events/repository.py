"""Every query on the event log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Event


async def add(session: AsyncSession, event: Event) -> Event:
    session.add(event)
    await session.flush()
    return event


async def of_agency(
    session: AsyncSession,
    *,
    agency: str,
    after: uuid.UUID | None = None,
    types: Sequence[str] = (),
    limit: int = 200,
) -> Sequence[Event]:
    """``agency``'s events, oldest first, strictly after the event ``after``: the shape of a
    resumable feed (``GET /v1/events?after=``)."""
    statement = select(Event).where(Event.agency == agency)
    if after is not None:
        statement = statement.where(Event.id > after)
    if types:
        statement = statement.where(Event.type.in_(list(types)))
    return (await session.scalars(statement.order_by(Event.id).limit(limit))).all()
