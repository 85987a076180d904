from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Agency


async def get(session: AsyncSession, slug: str) -> Agency | None:
    return await session.get(Agency, slug)


async def list_all(session: AsyncSession) -> list[Agency]:
    return list((await session.scalars(select(Agency).order_by(Agency.slug))).all())


async def add(session: AsyncSession, agency: Agency) -> Agency:
    session.add(agency)
    await session.flush()
    return agency
