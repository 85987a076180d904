"""Users, always seen through the calling principal's agency."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import User
from auth.principal import Principal
from kit.db.repository import Page, keyset_page


async def get_for(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User | None:
    user = await session.get(User, user_id)
    return user if user is not None and user.agency == principal.agency else None


async def by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.scalars(select(User).where(User.email == email))).first()


async def page_for(
    session: AsyncSession, principal: Principal, *, cursor: str | None, limit: int
) -> Page[User]:
    statement = select(User).where(User.agency == principal.agency)
    return await keyset_page(session, statement, User.id, cursor=cursor, limit=limit)


async def add(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def names_at(session: AsyncSession, agency: str) -> dict[str, str]:
    """Each user of ``agency`` by id: display name, or e-mail where none is set."""
    rows = await session.execute(
        select(User.id, User.display_name, User.email).where(User.agency == agency)
    )
    return {str(user_id): shown or email for user_id, shown, email in rows.all()}
