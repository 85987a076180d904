"""Every statement about programmes; each returns only the caller's agency's rows."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db.repository import Page, keyset_page

from .models import Programme


async def get_for(
    session: AsyncSession, *, agency: str, programme_id: uuid.UUID
) -> Programme | None:
    programme = await session.get(Programme, programme_id)
    return programme if programme is not None and programme.agency == agency else None


async def page_for(
    session: AsyncSession, *, agency: str, cursor: str | None, limit: int
) -> Page[Programme]:
    statement = select(Programme).where(Programme.agency == agency)
    return await keyset_page(session, statement, Programme.id, cursor=cursor, limit=limit)


async def add(session: AsyncSession, programme: Programme) -> Programme:
    session.add(programme)
    await session.flush()
    return programme


async def by_ids(
    session: AsyncSession, *, agency: str, ids: set[uuid.UUID]
) -> dict[uuid.UUID, Programme]:
    """The agency's programmes among ``ids``, in one query (a page of journeys needs them)."""
    if not ids:
        return {}
    rows = await session.scalars(
        select(Programme).where(Programme.agency == agency, Programme.id.in_(ids))
    )
    return {row.id: row for row in rows.all()}
