"""Every statement about journeys. Reads take the agency and return only its journeys; the
node's own follow-ups (a referral completed, a deadline passed) name the journey by id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db.repository import Page, keyset_page

from .models import Journey


async def get_for(
    session: AsyncSession, *, agency: str, journey_id: uuid.UUID, lock: bool = False
) -> Journey | None:
    statement = select(Journey).where(Journey.id == journey_id, Journey.agency == agency)
    if lock:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).first()


async def lock(session: AsyncSession, journey_id: uuid.UUID) -> Journey | None:
    statement = select(Journey).where(Journey.id == journey_id).with_for_update()
    return (await session.scalars(statement)).first()


async def open_of_case(
    session: AsyncSession, *, agency: str, case_id: uuid.UUID
) -> Sequence[Journey]:
    return (
        await session.scalars(
            select(Journey)
            .where(
                Journey.case_id == case_id,
                Journey.agency == agency,
                Journey.ended.is_(False),
            )
            .with_for_update()
        )
    ).all()


async def overdue(session: AsyncSession, *, now: datetime) -> Sequence[Journey]:
    """Open journeys past their stage's deadline, every agency's (the node's deadline sweep)."""
    return (
        await session.scalars(
            select(Journey)
            .where(Journey.ended.is_(False), Journey.due_at.is_not(None), Journey.due_at < now)
            .with_for_update()
        )
    ).all()


def _needs_attention() -> ColumnElement[bool]:
    # A JSON column set to None holds JSON null, not SQL NULL: both mean "nothing to do".
    return Journey.blocked.is_not(None) & (cast(Journey.blocked, String) != "null")


async def waiting_for(
    session: AsyncSession, *, agency: str, now: datetime, limit: int = 200
) -> Sequence[Journey]:
    """The agency's open journeys that wait for it: needing attention, or past their stage's
    deadline (the console's "Waiting for me"), most urgent first."""
    statement = (
        select(Journey)
        .where(
            Journey.agency == agency,
            Journey.ended.is_(False),
            _needs_attention() | (Journey.due_at.is_not(None) & (Journey.due_at < now)),
        )
        .order_by(Journey.due_at.is_(None), Journey.due_at, Journey.id)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


async def page_for(
    session: AsyncSession,
    *,
    agency: str,
    case_id: uuid.UUID | None,
    overdue_at: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[Journey]:
    statement = select(Journey).where(Journey.agency == agency)
    if case_id is not None:
        statement = statement.where(Journey.case_id == case_id)
    if overdue_at is not None:
        statement = statement.where(Journey.ended.is_(False), Journey.due_at < overdue_at)
    return await keyset_page(session, statement, Journey.id, cursor=cursor, limit=limit)


async def add(session: AsyncSession, journey: Journey) -> Journey:
    session.add(journey)
    await session.flush()
    return journey


async def of_programme(
    session: AsyncSession, *, agency: str, programme_id: uuid.UUID, limit: int
) -> Sequence[Journey]:
    return (
        await session.scalars(
            select(Journey)
            .where(Journey.agency == agency, Journey.programme_id == programme_id)
            .order_by(Journey.created_at.desc())
            .limit(limit)
        )
    ).all()
