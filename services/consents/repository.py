"""Consents, always seen through the calling principal's agency."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from kit.db.repository import Page, keyset_page

from .models import Consent

_BY_ID = select(Consent).where(
    Consent.id == bindparam("consent_id"), Consent.agency == bindparam("agency")
)
# Built once, locking or not: a referral's draft and approval read a consent each time.
_GET_FOR = {False: _BY_ID, True: _BY_ID.with_for_update()}


async def get_for(
    session: AsyncSession,
    principal: Principal,
    consent_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Consent | None:
    values = {"consent_id": consent_id, "agency": principal.agency}
    return (await session.scalars(_GET_FOR[for_update], values)).first()


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
