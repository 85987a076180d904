"""Journeys over HTTP: a case walking a programme's SOP (DESIGN §7)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from auth.dependencies import Requires
from auth.principal import Principal
from kit.db.session import ReadSession, Session
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router
from services.federation.runtime import FederationDep

from . import service
from .schemas import JourneyOut, JourneyPage, JourneyStart, OutcomeRequest

router = api_router(tags=["journeys"])

WORKERS = ("caseworker", "focal_point")
CaseReader = Annotated[Principal, Requires(scope="cases:read", role=(*WORKERS, "auditor"))]
CaseWriter = Annotated[Principal, Requires(scope="cases:write", role=WORKERS)]
_START: dict[int | str, dict[str, Any]] = {
    422: {"description": "The programme cannot run now, or facts the SOP needs are missing"}
}
_OUTCOME: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not an outcome of the current stage, or another agency acts there"},
    422: {"description": "Facts the SOP needs to decide the next stage are missing (`missing`)"},
}
_REDRAFT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The current stage's referral is drafted already (`referral_id`)"}
}
_REROUTE: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "The journey does not need attention, or no alternate is bound "
        "(`no-alternate`)"
    }
}


async def _out(session: Any, principal: Principal, journey: Any) -> JourneyOut:
    return JourneyOut.from_view(await service.view(session, principal=principal, journey=journey))


@router.post(
    "/v1/cases/{case_id}/journeys",
    status_code=201,
    responses=_START,
    summary="Start the case on a programme's SOP",
)
async def start_journey(
    case_id: uuid.UUID,
    data: JourneyStart,
    principal: CaseWriter,
    session: Session,
    federation: FederationDep,
) -> JourneyOut:
    journey = await service.start(
        session,
        federation=federation,
        principal=principal,
        case_id=case_id,
        programme_id=data.programme_id,
    )
    return await _out(session, principal, journey)


@router.get(
    "/v1/journeys",
    summary="Your agency's journeys, newest first; overdue=true lists those past a deadline",
)
async def list_journeys(
    principal: CaseReader,
    session: ReadSession,
    overdue: bool = False,
    case_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> JourneyPage:
    views, next_cursor = await service.page(
        session, principal=principal, case_id=case_id, overdue=overdue, cursor=cursor, limit=limit
    )
    return JourneyPage(
        items=[JourneyOut.from_view(v) for v in views], next_cursor=next_cursor, limit=limit
    )


@router.get(
    "/v1/journeys/{journey_id}",
    summary="Stage, acting agency, due date, history",
)
async def get_journey(
    journey_id: uuid.UUID, principal: CaseReader, session: ReadSession
) -> JourneyOut:
    journey = await service.get(session, principal=principal, journey_id=journey_id)
    return await _out(session, principal, journey)


@router.post(
    "/v1/journeys/{journey_id}/outcomes",
    responses=_OUTCOME,
    summary="Record an outcome of the current stage (your agency must act there)",
)
async def record_outcome(
    journey_id: uuid.UUID,
    data: OutcomeRequest,
    principal: CaseWriter,
    session: Session,
    federation: FederationDep,
) -> JourneyOut:
    journey = await service.record_outcome(
        session,
        federation=federation,
        principal=principal,
        journey_id=journey_id,
        stage=data.stage,
        outcome=data.outcome,
        facts=data.facts,
        decision_ref=data.decision_ref,
    )
    return await _out(session, principal, journey)


@router.post(
    "/v1/journeys/{journey_id}/reroute",
    responses=_REROUTE,
    summary="Re-route the current stage to the next alternate the programme binds for its role "
    "(once the journey needs attention)",
)
async def reroute(
    journey_id: uuid.UUID, principal: CaseWriter, session: Session, federation: FederationDep
) -> JourneyOut:
    journey = await service.reroute(
        session, federation=federation, principal=principal, journey_id=journey_id
    )
    return await _out(session, principal, journey)


@router.post(
    "/v1/journeys/{journey_id}/referral",
    responses=_REDRAFT,
    summary="Draft the current stage's referral again (after the blocking reasons "
    "were fixed, e.g. consent recorded)",
)
async def redraft(
    journey_id: uuid.UUID, principal: CaseWriter, session: Session, federation: FederationDep
) -> JourneyOut:
    journey = await service.redraft(
        session, federation=federation, principal=principal, journey_id=journey_id
    )
    return await _out(session, principal, journey)
