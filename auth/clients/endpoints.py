"""``/v1/clients``: an agency's admins register the systems that call the API for it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query

from auth.dependencies import Requires
from auth.principal import Principal
from kit.db.repository import DEFAULT_LIMIT, MAX_LIMIT
from kit.db.session import Session
from kit.http.routing import api_router

from . import service
from .schemas import ClientCreate, ClientOut, ClientPage, ClientPatch, ClientWithSecret

router = api_router(prefix="/v1/clients", tags=["clients"])

Reader = Annotated[Principal, Requires(scope="clients:read", role="admin")]
Writer = Annotated[Principal, Requires(scope="clients:write", role="admin")]
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid token"},
    403: {"description": "Missing scope or role"},
}


@router.post("", status_code=201, responses=_ERRORS)
async def create_client(
    data: ClientCreate, principal: Writer, session: Session
) -> ClientWithSecret:
    client, secret = await service.create(session, agency=principal.agency, data=data)
    return service.describe(client, secret)


@router.get("", responses=_ERRORS)
async def list_clients(
    principal: Reader,
    session: Session,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ClientPage:
    page = await service.page(session, principal, cursor=cursor, limit=limit)
    return ClientPage(items=[service.describe(c) for c in page.items], next_cursor=page.next_cursor)


@router.get("/{client_pk}", responses={**_ERRORS, 404: {}})
async def get_client(client_pk: uuid.UUID, principal: Reader, session: Session) -> ClientOut:
    return service.describe(await service.get(session, principal, client_pk))


@router.patch("/{client_pk}", responses={**_ERRORS, 404: {}, 422: {}})
async def update_client(
    client_pk: uuid.UUID, patch: ClientPatch, principal: Writer, session: Session
) -> ClientWithSecret:
    client, secret = await service.update(session, principal, client_pk, patch)
    return service.describe(client, secret)
