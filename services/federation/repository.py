"""What an agency's admins read of its federation traffic: one agency's rows only."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db.repository import Page, keyset_page

from .models import FederationIncident, InboxMessage, OutboxMessage


async def outbox_page(
    session: AsyncSession, agency: str, *, status: str | None, cursor: str | None, limit: int
) -> Page[OutboxMessage]:
    """Messages ``agency`` sent, newest first (by outbox position)."""
    statement = select(OutboxMessage).where(OutboxMessage.sender == agency)
    if status:
        statement = statement.where(OutboxMessage.status == status)
    return await keyset_page(session, statement, OutboxMessage.position, cursor=cursor, limit=limit)


async def outbox_counts(session: AsyncSession, agency: str) -> dict[str, int]:
    rows = await session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.sender == agency)
        .group_by(OutboxMessage.status)
    )
    return {status: int(count) for status, count in rows.all()}


async def inbox_page(
    session: AsyncSession, agency: str, *, sender: str | None, cursor: str | None, limit: int
) -> Page[InboxMessage]:
    """Messages ``agency`` received, newest first (by inbox position)."""
    statement = select(InboxMessage).where(InboxMessage.recipient == agency)
    if sender:
        statement = statement.where(InboxMessage.sender == sender)
    return await keyset_page(session, statement, InboxMessage.position, cursor=cursor, limit=limit)


async def incidents_page(
    session: AsyncSession, agency: str, *, cursor: str | None, limit: int
) -> Page[FederationIncident]:
    """``agency``'s refused or undeliverable messages, newest first. Incidents of no agency
    (the node's own) are for operators: ``accord federation incidents`` and the metrics."""
    statement = select(FederationIncident).where(FederationIncident.agency == agency)
    return await keyset_page(session, statement, FederationIncident.id, cursor=cursor, limit=limit)
