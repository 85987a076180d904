"""Programmes and journeys: each programme's check results and stage map, and a journey's
position and path on that map (DESIGN §7, §8)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from kit.db.session import Session
from kit.errors import NotFound
from services.federation.runtime import Federation
from services.journeys import definitions, service
from services.journeys import endpoints as api
from services.journeys.models import Journey
from sop.engine import JourneyState
from sop.graph import stage_views, to_mermaid

from .access import ConsoleRequires, Viewer
from .render import console_router, page

router = console_router()

ANY = ("admin", "focal_point", "caseworker", "auditor")
CASE_READERS = ("caseworker", "focal_point")
ProgrammeReader = Annotated[Viewer, ConsoleRequires(scope="agreements:read", role=ANY)]
CaseReader = Annotated[Viewer, ConsoleRequires(scope="cases:read", role=CASE_READERS)]


def _federation(request: Request) -> Federation:
    federation: Federation = request.app.state.federation
    return federation


@router.get("/console/programmes")
async def programmes(request: Request, viewer: ProgrammeReader, session: Session) -> HTMLResponse:
    listed = await api.list_programmes(principal=viewer.principal, session=session)
    checked = []
    for item in listed:
        row = await service.get_programme(session, viewer.principal, uuid.UUID(item["id"]))
        faults = await service.check(session, _federation(request), row)
        checked.append(item | {"runnable": not faults, "violations": faults})
    return page(request, viewer, "programmes.html", title="Programmes", items=checked)


@router.get("/console/programmes/{programme_id}")
async def programme(
    request: Request, programme_id: uuid.UUID, viewer: ProgrammeReader, session: Session
) -> HTMLResponse:
    row = await service.get_programme(session, viewer.principal, programme_id)
    faults = await service.check(session, _federation(request), row)
    ref = f"{row.sop_id}@{row.sop_version}"
    definition = await definitions.definition(session, ref, agency=row.agency)
    if definition is None:
        raise NotFound(f"The SOP {ref} this programme runs is not on this node.")
    journeys = (
        (
            await session.scalars(
                select(Journey)
                .where(Journey.agency == viewer.agency, Journey.programme_id == row.id)
                .order_by(Journey.created_at.desc())
                .limit(200)
            )
        ).all()
        if viewer.has_role(*CASE_READERS)
        else []
    )
    return page(
        request,
        viewer,
        "programme.html",
        title=row.title,
        programme=row,
        sop=ref,
        definition=definition,
        violations=faults,
        stages=stage_views(definition),
        journeys=journeys,
        mermaid=to_mermaid(definition),
    )


@router.get("/console/journeys/{journey_id}")
async def journey(
    request: Request, journey_id: uuid.UUID, viewer: CaseReader, session: Session
) -> HTMLResponse:
    row = await service.get(session, viewer.principal, journey_id)
    view = await service.view(session, viewer.principal, row)
    state = JourneyState.model_validate(row.state)
    definition = await definitions.definition(session, state.ref, agency=row.agency)
    if definition is None:
        raise NotFound(f"The SOP {state.ref} this journey follows is not on this node.")
    return page(
        request,
        viewer,
        "journey.html",
        title=f"Journey on {definition.title}",
        journey=view,
        definition=definition,
        stages=stage_views(definition, state),
        mermaid=to_mermaid(definition, state),
    )
