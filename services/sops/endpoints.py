"""``/v1/sops``: the SOP definitions an agency can run (DESIGN §7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.responses import PlainTextResponse

from auth.dependencies import Requires
from auth.principal import Principal
from kit.db.session import ReadSession, Session
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router
from kit.http.state import on_the_loop
from sop.graph import to_dot, to_mermaid

from . import service
from .schemas import SopPage, SopSummary, SopUpload
from .verification import Verifier

router = api_router(tags=["sops"])

ANY = ("admin", "focal_point", "caseworker", "auditor")
SopReader = Annotated[Principal, Requires(scope="cases:read", role=ANY)]
Admin = Annotated[Principal, Requires(scope="programmes:write", role="admin")]
_UPLOAD: dict[int | str, dict[str, Any]] = {
    409: {"description": "Your agency holds this id and version already: publish a new version"},
    422: {"description": "The definition does not verify; `errors` names every problem"},
}


def _verifier(request: Request) -> Verifier:
    verifier: Verifier = request.app.state.sop_verifier
    return verifier


VerifierDep = Annotated[Verifier, Depends(on_the_loop(_verifier))]


@router.get(
    "/v1/sops",
    summary="SOP definitions your agency can run: the shipped ones and its own uploads",
)
async def list_sops(
    principal: SopReader,
    session: ReadSession,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> SopPage:
    available = await service.available(session, agency=principal.agency)
    chosen, next_cursor = service.page_of(available, cursor=cursor, limit=limit)
    return SopPage(
        items=[SopSummary(ref=ref, title=title) for ref, title in chosen],
        next_cursor=next_cursor,
        limit=limit,
    )


@router.post(
    "/v1/sops",
    status_code=201,
    responses=_UPLOAD,
    summary="Publish a definition for your agency; refused with every problem and its line",
)
async def upload_sop(
    data: SopUpload, principal: Admin, session: Session, verifier: VerifierDep
) -> SopSummary:
    row = await service.upload(session, verifier=verifier, principal=principal, source=data.source)
    return SopSummary.from_row(row)


@router.get(
    "/v1/sops/{ref}/graph",
    response_class=PlainTextResponse,
    summary="The stage graph as Mermaid or Graphviz DOT",
)
async def sop_graph(
    ref: str,
    principal: SopReader,
    session: ReadSession,
    format: Literal["mermaid", "dot"] = "mermaid",
) -> PlainTextResponse:
    definition = await service.definition(session, agency=principal.agency, ref=ref)
    text = to_mermaid(definition) if format == "mermaid" else to_dot(definition)
    return PlainTextResponse(text)
