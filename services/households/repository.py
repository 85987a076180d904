"""Every statement about households. Reads take the agency and return only its households."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.models import Case
from services.journeys.models import Journey

from .models import Household, HouseholdMember


async def get_for(
    session: AsyncSession, *, agency: str, household_id: uuid.UUID, lock: bool = False
) -> Household | None:
    statement = select(Household).where(Household.id == household_id, Household.agency == agency)
    if lock:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).first()


async def members_of(session: AsyncSession, household_id: uuid.UUID) -> Sequence[HouseholdMember]:
    return (
        await session.scalars(
            select(HouseholdMember)
            .where(HouseholdMember.household_id == household_id)
            .order_by(HouseholdMember.position)
        )
    ).all()


async def of_case(session: AsyncSession, *, agency: str, case_id: uuid.UUID) -> Sequence[Household]:
    """Every household of the agency the case belongs to."""
    return (
        await session.scalars(
            select(Household)
            .join(HouseholdMember, HouseholdMember.household_id == Household.id)
            .where(Household.agency == agency, HouseholdMember.case_id == case_id)
            .order_by(Household.id)
        )
    ).all()


async def cases_of_agency(
    session: AsyncSession, *, agency: str, case_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of ``case_ids`` that are the agency's cases (another agency's are unknown)."""
    if not case_ids:
        return set()
    found = await session.scalars(
        select(Case.id).where(Case.agency == agency, Case.id.in_(list(case_ids)))
    )
    return set(found.all())


async def add(
    session: AsyncSession, household: Household, members: Sequence[HouseholdMember]
) -> Household:
    session.add(household)
    await session.flush()
    session.add_all(members)
    await session.flush()
    return household


async def add_member(session: AsyncSession, member: HouseholdMember) -> None:
    session.add(member)
    await session.flush()


async def remove_member(
    session: AsyncSession, *, household_id: uuid.UUID, case_id: uuid.UUID
) -> None:
    await session.execute(
        delete(HouseholdMember).where(
            HouseholdMember.household_id == household_id, HouseholdMember.case_id == case_id
        )
    )
    await session.flush()


async def journeys_of_case(
    session: AsyncSession, *, agency: str, case_id: uuid.UUID
) -> Sequence[Journey]:
    """Every journey of the case at the agency, open or ended (a member who already departed
    still counts as departing)."""
    return (
        await session.scalars(
            select(Journey)
            .where(Journey.agency == agency, Journey.case_id == case_id)
            .order_by(Journey.id)
        )
    ).all()
