"""Programmes and journeys: each programme's check results and stage map, and a journey's
position and path on that map (DESIGN §7, §8)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import Request
from fastapi.responses import HTMLResponse

from kit.db.repository import MAX_LIMIT
from kit.db.session import Session
from kit.i18n import gettext
from services.federation.runtime import FederationDep
from services.journeys import repository as journey_rows
from services.journeys import service as journey_service
from services.journeys.models import Journey
from services.journeys.schemas import JourneyOut
from services.programmes import repository as programme_rows
from services.programmes import service as programme_service
from services.programmes.schemas import ProgrammeOut
from sop.graph import stage_views, to_mermaid
from sop.schema import Definition

from .access import ConsoleRequires, Viewer
from .names import for_viewer
from .render import console_router, page

router = console_router()

ANY = ("admin", "focal_point", "caseworker", "auditor")
CASE_READERS = ("caseworker", "focal_point")
ProgrammeReader = Annotated[Viewer, ConsoleRequires(scope="agreements:read", role=ANY)]
CaseReader = Annotated[Viewer, ConsoleRequires(scope="cases:read", role=CASE_READERS)]


def titles_of(definition: Definition) -> dict[str, str]:
    """Each stage's title by its id, for pages that name stages (the ``said`` filter translates
    a title the catalogue holds)."""
    return {stage.id: stage.title for stage in definition.stages}


async def stage_titles(
    session: Session, *, agency: str, journeys: Sequence[Journey]
) -> dict[uuid.UUID, str]:
    """The title of each journey's current stage, by journey id, from its programme's SOP (each
    SOP read once); a journey whose stage the SOP no longer names is left out."""
    held = await programme_rows.by_ids(
        session, agency=agency, ids={j.programme_id for j in journeys}
    )
    definitions: dict[str, Definition] = {}
    found: dict[uuid.UUID, str] = {}
    for journey in journeys:
        programme = held.get(journey.programme_id)
        if programme is None:
            continue
        if programme.sop not in definitions:
            definitions[programme.sop] = await programme_service.definition_of(session, programme)
        title = titles_of(definitions[programme.sop]).get(journey.stage)
        if title is not None:
            found[journey.id] = title
    return found


@router.get("/console/programmes")
async def programmes(
    request: Request, viewer: ProgrammeReader, session: Session, federation: FederationDep
) -> HTMLResponse:
    listed = await programme_service.page(
        session, principal=viewer.principal, cursor=None, limit=MAX_LIMIT
    )
    checked = [
        ProgrammeOut.from_row(
            row, await programme_service.check(session, federation=federation, programme=row)
        )
        for row in listed.items
    ]
    return page(request, viewer, "programmes.html", title=gettext("Programmes"), items=checked)


@router.get("/console/programmes/{programme_id}")
async def programme(
    request: Request,
    programme_id: uuid.UUID,
    viewer: ProgrammeReader,
    session: Session,
    federation: FederationDep,
) -> HTMLResponse:
    row = await programme_service.get(
        session, principal=viewer.principal, programme_id=programme_id
    )
    faults = await programme_service.check(session, federation=federation, programme=row)
    definition = await programme_service.definition_of(session, row)
    journeys = (
        await journey_rows.of_programme(
            session, agency=viewer.agency, programme_id=row.id, limit=MAX_LIMIT
        )
        if viewer.has_role(*CASE_READERS)
        else []
    )
    return page(
        request,
        viewer,
        "programme.html",
        title=row.title,
        programme=row,
        sop=row.sop,
        definition=definition,
        violations=faults,
        stages=stage_views(definition),
        journeys=journeys,
        stage_titles=titles_of(definition),
        names=await for_viewer(request, session, viewer),
        mermaid=to_mermaid(definition),
    )


@router.get("/console/journeys/{journey_id}")
async def journey(
    request: Request, journey_id: uuid.UUID, viewer: CaseReader, session: Session
) -> HTMLResponse:
    row = await journey_service.get(session, principal=viewer.principal, journey_id=journey_id)
    view = await journey_service.view(session, principal=viewer.principal, journey=row)
    definition = view.ctx.definition
    return page(
        request,
        viewer,
        "journey.html",
        title=gettext("Journey on %(sop)s") % {"sop": gettext(definition.title)},
        journey=JourneyOut.from_view(view),
        names=await for_viewer(request, session, viewer),
        definition=definition,
        stage_titles=titles_of(definition),
        stages=stage_views(definition, view.ctx.state),
        mermaid=to_mermaid(definition, view.ctx.state),
    )
