"""Every statement about stored SOP definitions. Each takes the agency and returns only its
rows: another agency on the node neither lists nor runs a definition it did not upload."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .models import SopDefinition


class AlreadyStored(Exception):
    """The agency already holds this id and version."""


async def uploaded(
    session: AsyncSession, *, agency: str, sop_id: str, version: str
) -> SopDefinition | None:
    return await session.get(SopDefinition, (agency, sop_id, version))


async def of_agency(session: AsyncSession, *, agency: str) -> Sequence[SopDefinition]:
    rows = await session.scalars(
        select(SopDefinition)
        .where(SopDefinition.agency == agency)
        .order_by(SopDefinition.id, SopDefinition.created_at)
    )
    return rows.all()


async def add(session: AsyncSession, row: SopDefinition) -> SopDefinition:
    """Store ``row``; :class:`AlreadyStored` if the agency holds its id and version already
    (also when another request stored it a moment ago)."""
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise AlreadyStored from None
    return row
