"""``/v1/households``: cases of the agency linked as one household (family unity at departure)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Body, Response
from pydantic import SkipValidation

from auth.dependencies import Requires
from auth.principal import Principal
from kit.db.session import ReadSession, Session
from kit.http.routing import api_router

from . import service
from .schemas import HouseholdCreate, HouseholdOut, MemberIn, MemberOut

router = api_router(prefix="/v1/households", tags=["households"])

# As for the cases a household links: case workers and focal points, the auditor to read.
WORKERS = ("caseworker", "focal_point")
Reader = Annotated[Principal, Requires(scope="cases:read", role=(*WORKERS, "auditor"))]
Writer = Annotated[Principal, Requires(scope="cases:write", role=WORKERS)]

_REFUSED: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "Not a household: `errors` names every fault (a case unknown to your "
        "agency, a case listed twice, one member only, a relationship with no counterpart)"
    }
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such household (or member) at your agency"}
}

# Validated by contracts.family, which reports every fault at once (see .schemas).
NewHousehold = Annotated[SkipValidation[HouseholdCreate], Body()]


def _out(view: service.HouseholdView) -> HouseholdOut:
    return HouseholdOut(
        id=view.household.id,
        agency=view.household.agency,
        members=[MemberOut.model_validate(m) for m in view.members],
        created_at=view.household.created_at,
        updated_at=view.household.updated_at,
    )


@router.post(
    "",
    status_code=201,
    responses=_REFUSED,
    summary="Link cases of your agency as one household, each with their relationship",
)
async def create_household(
    body: NewHousehold, principal: Writer, session: Session, response: Response
) -> HouseholdOut:
    """A departure that would separate a child from a parent or guardian of the household is
    refused at approval (`family-separation`) unless a best-interests determination with a
    `decision_ref` decided it."""
    view = await service.create(session, principal=principal, body=body)
    response.headers["Location"] = f"/v1/households/{view.household.id}"
    return _out(view)


@router.get("/{household_id}", responses=_NOT_FOUND, summary="One household of your agency")
async def get_household(
    household_id: uuid.UUID, principal: Reader, session: ReadSession
) -> HouseholdOut:
    return _out(await service.get(session, principal=principal, household_id=household_id))


@router.post(
    "/{household_id}/members",
    responses={**_NOT_FOUND, **_REFUSED},
    summary="Add a case of your agency to the household",
)
async def add_member(
    household_id: uuid.UUID, member: MemberIn, principal: Writer, session: Session
) -> HouseholdOut:
    view = await service.add_member(
        session,
        principal=principal,
        household_id=household_id,
        case_id=member.case_id,
        relationship=member.relationship,
    )
    return _out(view)


@router.delete(
    "/{household_id}/members/{case_id}",
    responses={**_NOT_FOUND, **_REFUSED},
    summary="Take a case out of the household (refused if what remains is not one)",
)
async def remove_member(
    household_id: uuid.UUID, case_id: uuid.UUID, principal: Writer, session: Session
) -> HouseholdOut:
    view = await service.remove_member(
        session, principal=principal, household_id=household_id, case_id=case_id
    )
    return _out(view)
