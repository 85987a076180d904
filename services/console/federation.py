"""Admins see their agency's keys, whether the directory in force publishes them, and how
the node's messages fare (DESIGN §4)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from fastapi.responses import HTMLResponse

from contracts.directory import UnknownMember
from kit.db.base import utcnow
from kit.db.session import Session
from kit.i18n import gettext
from services.federation import endpoints as api
from services.federation.runtime import FederationDep
from services.keys import store as key_store

from .access import ConsoleRequires, Viewer
from .names import for_viewer
from .render import console_router, page

router = console_router()

Reader = Annotated[Viewer, ConsoleRequires(scope="federation:read", role="admin")]


@router.get("/console/federation")
async def federation(
    request: Request, viewer: Reader, session: Session, node: FederationDep
) -> HTMLResponse:
    holder = node.directory
    status = await api.directory_status(viewer.principal, node)
    directory = holder.current()
    published: set[str] = set()
    if directory is not None:
        try:
            published = {key.kid for key in directory.member(viewer.agency).keys}
        except UnknownMember:
            published = set()
    keys = await key_store.of_agency(session, agency=viewer.agency)
    now = utcnow()
    return page(
        request,
        viewer,
        "federation.html",
        title=gettext("Keys and directory"),
        status=status,
        keys=[
            {
                "kid": k.kid,
                "kind": k.kind,
                "not_before": k.not_before,
                "expires_at": k.expires_at,
                "valid": k.not_before <= now < k.expires_at,
                "published": k.kid in published,
            }
            for k in keys
        ],
        outbox=(await api.outbox_summary(viewer.principal, session)).model_dump(),
        names=await for_viewer(request, session, viewer),
    )
