"""``/v1/clients``: an agency's admins register the systems that call the API for it."""

from __future__ import annotations

import uuid
from typing import Annotated

from auth.dependencies import Requires
from auth.principal import Principal
from kit.db.session import Session
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router

from . import service
from .schemas import ClientCreate, ClientOut, ClientPage, ClientPatch, ClientWithSecret

router = api_router(prefix="/v1/clients", tags=["clients"])

Reader = Annotated[Principal, Requires(scope="clients:read", role="admin")]
Writer = Annotated[Principal, Requires(scope="clients:write", role="admin")]


@router.post(
    "",
    status_code=201,
    summary="Register an API client (its secret is shown once)",
)
async def create_client(
    data: ClientCreate, principal: Writer, session: Session
) -> ClientWithSecret:
    client, secret = await service.create(session, agency=principal.agency, data=data)
    return service.describe(client, secret)


@router.get("", summary="Your agency's API clients, newest first")
async def list_clients(
    principal: Reader,
    session: Session,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ClientPage:
    page = await service.page(session, principal=principal, cursor=cursor, limit=limit)
    return ClientPage(
        items=[service.describe(c) for c in page.items], next_cursor=page.next_cursor, limit=limit
    )


@router.get(
    "/{client_pk}",
    responses={404: {"description": "Not at your agency"}},
    summary="One API client",
)
async def get_client(client_pk: uuid.UUID, principal: Reader, session: Session) -> ClientOut:
    return service.describe(await service.get(session, principal=principal, client_pk=client_pk))


@router.patch(
    "/{client_pk}",
    responses={
        404: {"description": "Not at your agency"},
        422: {"description": "The configuration is not coherent; `errors` says why"},
    },
    summary="Change grants, redirect URIs or keys, disable, or rotate the secret",
)
async def update_client(
    client_pk: uuid.UUID, patch: ClientPatch, principal: Writer, session: Session
) -> ClientWithSecret:
    client, secret = await service.update(
        session, principal=principal, client_pk=client_pk, patch=patch
    )
    return service.describe(client, secret)
