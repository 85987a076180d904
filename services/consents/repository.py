"""Consents, always seen through the calling principal's agency."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from kit.db.repository import Page, keyset_page

from .models import Consent


async def get_for(
    session: AsyncSession,
    principal: Principal,
    consent_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Consent | None:
    statement = select(Consent).where(Consent.id == consent_id, Consent.agency == principal.agency)
    if for_update:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).first()


async def page_for_case(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> Page[Consent]:
    statement = select(Consent).where(
        Consent.agency == principal.agency, Consent.case_id == case_id
    )
    return await keyset_page(session, statement, Consent.id, cursor=cursor, limit=limit)


async def add(session: AsyncSession, consent: Consent) -> Consent:
    session.add(consent)
    await session.flush()
    return consent
