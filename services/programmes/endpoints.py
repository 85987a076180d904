"""``/v1/programmes``: an SOP bound to agencies and agreements (DESIGN §7)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from auth.dependencies import Requires
from auth.principal import Principal
from kit.db.base import utcnow
from kit.db.session import ReadSession, Session
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router
from services.federation.runtime import FederationDep

from . import service
from .schemas import ProgrammeCheck, ProgrammeCreate, ProgrammeOut, ProgrammePage

router = api_router(tags=["programmes"])

ANY = ("admin", "focal_point", "caseworker", "auditor")
Admin = Annotated[Principal, Requires(scope="programmes:write", role="admin")]
Reader = Annotated[Principal, Requires(scope="agreements:read", role=ANY)]
_REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "The programme cannot run: `violations` names every gap, per stage"}
}


@router.post(
    "/v1/programmes",
    status_code=201,
    responses=_REFUSED,
    summary="Bind an SOP to agencies and agreements; refused with every gap",
)
async def create_programme(
    data: ProgrammeCreate, principal: Admin, session: Session, federation: FederationDep
) -> ProgrammeOut:
    programme = await service.create(
        session,
        federation=federation,
        principal=principal,
        title=data.title,
        sop=data.sop,
        bindings=data.bindings,
        agreement_ids=data.agreements,
        params=data.params,
        deadlines=data.deadlines,
    )
    return ProgrammeOut.from_row(programme)


@router.get("/v1/programmes", summary="Your agency's programmes, newest first")
async def list_programmes(
    principal: Reader,
    session: ReadSession,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ProgrammePage:
    page = await service.page(session, principal=principal, cursor=cursor, limit=limit)
    return ProgrammePage(
        items=[ProgrammeOut.from_row(p) for p in page.items],
        next_cursor=page.next_cursor,
        limit=limit,
    )


@router.get(
    "/v1/programmes/{programme_id}",
    summary="One programme, with whether it can run now",
)
async def get_programme(
    programme_id: uuid.UUID, principal: Reader, session: ReadSession, federation: FederationDep
) -> ProgrammeOut:
    programme = await service.get(session, principal=principal, programme_id=programme_id)
    faults = await service.check(session, federation=federation, programme=programme)
    return ProgrammeOut.from_row(programme, faults)


@router.get(
    "/v1/programmes/{programme_id}/check",
    summary="Re-evaluate: agreements expire and get suspended",
)
async def check_programme(
    programme_id: uuid.UUID, principal: Reader, session: ReadSession, federation: FederationDep
) -> ProgrammeCheck:
    programme = await service.get(session, principal=principal, programme_id=programme_id)
    faults = await service.check(session, federation=federation, programme=programme)
    return ProgrammeCheck.model_validate(
        {"runnable": not faults, "violations": faults, "checked_at": utcnow()}
    )
