"""SOP definitions, programmes and journeys over HTTP (DESIGN §7)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import Request
from fastapi.responses import PlainTextResponse
from pydantic import Field
from sqlalchemy import select

from auth.dependencies import Requires
from auth.principal import Principal
from kit.db.base import utcnow
from kit.db.session import ReadSession, Session
from kit.errors import NotFound
from kit.http.routing import api_router
from kit.http.schemas import RequestModel
from services.federation.runtime import Federation
from sop.graph import to_dot, to_mermaid

from . import definitions, service
from .models import Journey, Programme
from .verification import Verifier

router = api_router(tags=["sop"])

ANY = ("admin", "focal_point", "caseworker", "auditor")
WORKERS = ("caseworker", "focal_point")
SopReader = Annotated[Principal, Requires(scope="cases:read", role=ANY)]
Admin = Annotated[Principal, Requires(scope="programmes:write", role="admin")]
ProgrammeReader = Annotated[Principal, Requires(scope="agreements:read", role=ANY)]
CaseReader = Annotated[Principal, Requires(scope="cases:read", role=(*WORKERS, "auditor"))]
CaseWriter = Annotated[Principal, Requires(scope="cases:write", role=WORKERS)]
_ERRORS: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 404: {}, 409: {}, 422: {}}


def _federation(request: Request) -> Federation:
    federation: Federation = request.app.state.federation
    return federation


class SopUpload(RequestModel):
    # No max_length: the loader refuses an oversized definition itself, as a problem naming
    # the limit like every other, and the node's body limit bounds what is read at all.
    source: str = Field(
        min_length=1, description="The definition, YAML, at most 256 KiB in UTF-8, no anchors."
    )


class ProgrammeCreate(RequestModel):
    title: str = Field(min_length=1, max_length=200)
    sop: str = Field(pattern=r"^[a-z0-9-]+@\d+\.\d+\.\d+$", examples=["avrr-joint@1.0.0"])
    bindings: dict[str, str] = Field(description="SOP role -> agency slug.")
    agreements: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)


class JourneyStart(RequestModel):
    programme_id: uuid.UUID


class OutcomeRequest(RequestModel):
    stage: str
    outcome: str
    facts: dict[str, Any] = Field(default_factory=dict)


def _programme(programme: Programme, faults: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": str(programme.id),
        "agency": programme.agency,
        "title": programme.title,
        "sop": f"{programme.sop_id}@{programme.sop_version}",
        "bindings": programme.bindings,
        "agreements": programme.agreements,
        "params": programme.params,
        "runnable": not faults,
        "violations": faults,
    }


@router.get(
    "/v1/sops",
    responses=_ERRORS,
    summary="SOP definitions your agency can run: the shipped ones and its own uploads",
)
async def list_sops(principal: SopReader, session: ReadSession) -> list[dict[str, str]]:
    return [
        {"ref": ref, "title": title}
        for ref, title in (await definitions.available(session, agency=principal.agency)).items()
    ]


@router.post(
    "/v1/sops",
    status_code=201,
    responses=_ERRORS,
    summary="Publish a definition for your agency; refused with every problem and its line",
)
async def upload_sop(
    request: Request, data: SopUpload, principal: Admin, session: Session
) -> dict[str, str]:
    verifier: Verifier = request.app.state.sop_verifier
    row = await service.upload(session, verifier, principal, data.source)
    return {"ref": f"{row.id}@{row.version}", "title": row.title}


@router.get(
    "/v1/sops/{ref}/graph",
    responses=_ERRORS,
    response_class=PlainTextResponse,
    summary="The stage graph as Mermaid or Graphviz DOT",
)
async def sop_graph(
    ref: str,
    principal: SopReader,
    session: ReadSession,
    format: Literal["mermaid", "dot"] = "mermaid",
) -> PlainTextResponse:
    definition = await definitions.definition(session, ref, agency=principal.agency)
    if definition is None:
        raise NotFound(f"No SOP definition {ref} for your agency.")
    text = to_mermaid(definition) if format == "mermaid" else to_dot(definition)
    return PlainTextResponse(text)


@router.post(
    "/v1/programmes",
    status_code=201,
    responses=_ERRORS,
    summary="Bind an SOP to agencies and agreements; refused with every gap",
)
async def create_programme(
    request: Request, data: ProgrammeCreate, principal: Admin, session: Session
) -> dict[str, Any]:
    programme = await service.create_programme(
        session,
        _federation(request),
        principal,
        title=data.title,
        sop=data.sop,
        bindings=data.bindings,
        agreement_ids=data.agreements,
        params=data.params,
    )
    return _programme(programme, [])


@router.get("/v1/programmes", responses=_ERRORS, summary="Your agency's programmes")
async def list_programmes(principal: ProgrammeReader, session: ReadSession) -> list[dict[str, Any]]:
    rows = (
        await session.scalars(
            select(Programme)
            .where(Programme.agency == principal.agency)
            .order_by(Programme.created_at.desc())
        )
    ).all()
    return [_programme(p, []) | {"agency": p.agency} for p in rows]


@router.get("/v1/programmes/{programme_id}", responses=_ERRORS, summary="One programme")
async def get_programme(
    request: Request, programme_id: uuid.UUID, principal: ProgrammeReader, session: ReadSession
) -> dict[str, Any]:
    programme = await service.get_programme(session, principal, programme_id)
    return _programme(programme, await service.check(session, _federation(request), programme))


@router.get(
    "/v1/programmes/{programme_id}/check",
    responses=_ERRORS,
    summary="Re-evaluate: agreements expire and get suspended",
)
async def check_programme(
    request: Request, programme_id: uuid.UUID, principal: ProgrammeReader, session: ReadSession
) -> dict[str, Any]:
    programme = await service.get_programme(session, principal, programme_id)
    faults = await service.check(session, _federation(request), programme)
    return {"runnable": not faults, "violations": faults, "checked_at": utcnow()}


@router.post(
    "/v1/cases/{case_id}/journeys",
    status_code=201,
    responses=_ERRORS,
    summary="Start the case on a programme's SOP",
)
async def start_journey(
    request: Request,
    case_id: uuid.UUID,
    data: JourneyStart,
    principal: CaseWriter,
    session: Session,
) -> dict[str, Any]:
    journey = await service.start(
        session, _federation(request), principal, case_id, data.programme_id
    )
    return await service.view(session, principal, journey)


@router.get(
    "/v1/journeys",
    responses=_ERRORS,
    summary="Your agency's journeys; overdue=true lists those past a stage deadline",
)
async def list_journeys(
    principal: CaseReader,
    session: ReadSession,
    overdue: bool | None = None,
    case_id: uuid.UUID | None = None,
) -> list[dict[str, Any]]:
    statement = select(Journey).where(Journey.agency == principal.agency)
    if case_id is not None:
        statement = statement.where(Journey.case_id == case_id)
    if overdue:
        statement = statement.where(Journey.ended.is_(False), Journey.due_at < utcnow())
    rows = (await session.scalars(statement.order_by(Journey.created_at.desc()))).all()
    return [await service.view(session, principal, j) for j in rows]


@router.get(
    "/v1/journeys/{journey_id}",
    responses=_ERRORS,
    summary="Stage, acting agency, due date, history",
)
async def get_journey(
    journey_id: uuid.UUID, principal: CaseReader, session: ReadSession
) -> dict[str, Any]:
    return await service.view(session, principal, await service.get(session, principal, journey_id))


@router.post(
    "/v1/journeys/{journey_id}/outcomes",
    responses=_ERRORS,
    summary="Record an outcome of the current stage (your agency must act there)",
)
async def record_outcome(
    request: Request,
    journey_id: uuid.UUID,
    data: OutcomeRequest,
    principal: CaseWriter,
    session: Session,
) -> dict[str, Any]:
    journey = await service.record_outcome(
        session,
        _federation(request),
        principal,
        journey_id,
        stage=data.stage,
        outcome=data.outcome,
        facts=data.facts,
    )
    return await service.view(session, principal, journey)


@router.post(
    "/v1/journeys/{journey_id}/referral",
    responses=_ERRORS,
    summary="Draft the current stage's referral again (after the blocking reasons "
    "were fixed, e.g. consent recorded)",
)
async def redraft(
    request: Request, journey_id: uuid.UUID, principal: CaseWriter, session: Session
) -> dict[str, Any]:
    journey = await service.redraft(session, _federation(request), principal, journey_id)
    return await service.view(session, principal, journey)
