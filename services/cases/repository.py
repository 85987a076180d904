"""Cases, always seen through the calling principal's agency."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from kit.db.repository import Page, keyset_page

from .models import Case, CaseData

_BY_ID = select(Case).where(Case.id == bindparam("case_id"), Case.agency == bindparam("agency"))
# Built once: building a statement per call (and its cache key) cost more CPU than running it.
_GET_FOR = {False: _BY_ID, True: _BY_ID.with_for_update()}


async def get_for(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, *, for_update: bool = False
) -> Case | None:
    """The case if it belongs to the principal's agency. ``for_update`` locks the row, so two
    changes to one case (and their audit events) happen one after the other."""
    values = {"case_id": case_id, "agency": principal.agency}
    return (await session.scalars(_GET_FOR[for_update], values)).first()


_WITH_DATA = (
    select(Case, CaseData)
    .outerjoin(CaseData, CaseData.case_id == Case.id)
    .where(Case.id == bindparam("case_id"), Case.agency == bindparam("agency"))
)


async def get_with_data(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID
) -> tuple[Case | None, list[CaseData]]:
    """The case (if it is the principal's agency's) and its data rows, in one round trip: a
    referral's draft and its approval need both (issue 19)."""
    values = {"case_id": case_id, "agency": principal.agency}
    found = (await session.execute(_WITH_DATA, values)).all()
    if not found:
        return None, []
    return found[0][0], [data for _, data in found if data is not None]


async def by_external_ref(session: AsyncSession, agency: str, external_ref: str) -> Case | None:
    statement = select(Case).where(Case.agency == agency, Case.external_ref == external_ref)
    return (await session.scalars(statement)).first()


async def page_for(
    session: AsyncSession,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    external_ref: str | None = None,
) -> Page[Case]:
    statement = select(Case).where(Case.agency == principal.agency)
    if external_ref is not None:
        statement = statement.where(Case.external_ref == external_ref)
    return await keyset_page(session, statement, Case.id, cursor=cursor, limit=limit)


async def add(session: AsyncSession, case: Case, data: list[CaseData]) -> Case:
    session.add(case)
    await session.flush()
    session.add_all(data)
    await session.flush()
    return case


async def data_of(session: AsyncSession, case_id: uuid.UUID) -> list[CaseData]:
    statement = select(CaseData).where(CaseData.case_id == case_id)
    return list((await session.scalars(statement)).all())


async def put_data(session: AsyncSession, row: CaseData) -> CaseData:
    """Insert or replace one category of a case (the caller holds the case row locked)."""
    existing = await session.get(CaseData, (row.case_id, row.category))
    if existing is None:
        session.add(row)
        existing = row
    else:
        existing.sealed = row.sealed
        existing.updated_at = row.updated_at
    await session.flush()
    return existing
