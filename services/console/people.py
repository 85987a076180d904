"""Admins manage their agency's people and API clients: create, disable, and new secrets,
which are shown once, on the page that made them, and never again."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from auth.clients import service as clients
from auth.clients.schemas import ClientCreate, ClientPatch
from auth.scopes import ALL_ROLES, ALL_SCOPES
from auth.users import repository as user_rows
from auth.users import service as users
from auth.users.schemas import UserCreate, UserPatch
from contracts.faults import ContractError
from services.db.repository import MAX_LIMIT
from services.db.session import Session
from services.errors import AccordError

from .access import ConsoleRequires, Viewer
from .failures import Failure, explain
from .render import console_router, page, see_other

router = console_router()

UserReader = Annotated[Viewer, ConsoleRequires(scope="users:read", role="admin")]
UserWriter = Annotated[Viewer, ConsoleRequires(scope="users:write", role="admin")]
ClientReader = Annotated[Viewer, ConsoleRequires(scope="clients:read", role="admin")]
ClientWriter = Annotated[Viewer, ConsoleRequires(scope="clients:write", role="admin")]

DONE = {
    "disable": "Disabled: every session and token of theirs stopped working.",
    "enable": "Enabled again.",
}


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _once(request: Request, viewer: Viewer, what: str, name: str, secret: str) -> HTMLResponse:
    back = "/console/users" if "password" in what else "/console/clients"
    shown = page(
        request,
        viewer,
        "secret.html",
        title=f"New {what}",
        what=what,
        name=name,
        secret=secret,
        back=back,
    )
    shown.headers["Cache-Control"] = "no-store"
    return shown


async def _users_page(
    request: Request,
    viewer: Viewer,
    session: Session,
    *,
    status_code: int = 200,
    failure: Failure | None = None,
    form: dict[str, Any] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    found = await user_rows.page_for(session, viewer.principal, cursor=None, limit=MAX_LIMIT)
    return page(
        request,
        viewer,
        "users.html",
        status_code=status_code,
        title="Users",
        items=found.items,
        roles=sorted(ALL_ROLES),
        failure=failure,
        form=form or {"roles": []},
        notice=notice,
    )


@router.get("/console/users")
async def user_list(
    request: Request, viewer: UserReader, session: Session, done: str = ""
) -> HTMLResponse:
    return await _users_page(request, viewer, session, notice=DONE.get(done))


@router.post("/console/users")
async def create_user(
    request: Request,
    viewer: UserWriter,
    session: Session,
    email: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    data_roles: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "email": email,
        "display_name": display_name,
        "roles": roles or [],
        "data_roles": data_roles,
    }
    try:
        data = UserCreate(
            email=email,
            display_name=display_name,
            roles=roles or [],
            data_roles=_split(data_roles),
        )
        user, password = await users.create(session, agency=viewer.agency, data=data)
    except (ValidationError, AccordError, ContractError) as error:
        await session.rollback()
        failure = explain(error)
        return await _users_page(
            request, viewer, session, status_code=failure.status, failure=failure, form=form
        )
    return _once(request, viewer, "user's password", user.email, password or "")


@router.post("/console/users/{user_id}")
async def change_user(
    request: Request,
    user_id: uuid.UUID,
    viewer: UserWriter,
    session: Session,
    action: Annotated[str, Form()] = "",
) -> Response:
    patches = {
        "disable": UserPatch(disabled=True),
        "enable": UserPatch(disabled=False),
        "reset_password": UserPatch(reset_password=True),
    }
    if action not in patches:
        return await _users_page(
            request,
            viewer,
            session,
            status_code=422,
            failure=Failure(422, "Unknown action", "Choose disable, enable or reset password."),
        )
    try:
        user, password = await users.update(session, viewer.principal, user_id, patches[action])
    except (AccordError, ContractError) as error:
        await session.rollback()
        failure = explain(error)
        return await _users_page(
            request, viewer, session, status_code=failure.status, failure=failure
        )
    if password:
        return _once(request, viewer, "user's password", user.email, password)
    return see_other(f"/console/users?done={action}")


async def _clients_page(
    request: Request,
    viewer: Viewer,
    session: Session,
    *,
    status_code: int = 200,
    failure: Failure | None = None,
    form: dict[str, Any] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    found = await clients.page(session, viewer.principal, cursor=None, limit=MAX_LIMIT)
    return page(
        request,
        viewer,
        "clients.html",
        status_code=status_code,
        title="API clients",
        items=[clients.describe(c) for c in found.items],
        roles=sorted(ALL_ROLES),
        scopes=sorted(ALL_SCOPES),
        failure=failure,
        form=form or {"roles": [], "scopes": []},
        notice=notice,
    )


@router.get("/console/clients")
async def client_list(
    request: Request, viewer: ClientReader, session: Session, done: str = ""
) -> HTMLResponse:
    return await _clients_page(request, viewer, session, notice=DONE.get(done))


@router.post("/console/clients")
async def create_client(
    request: Request,
    viewer: ClientWriter,
    session: Session,
    name: Annotated[str, Form()] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    roles: Annotated[list[str] | None, Form()] = None,
    data_roles: Annotated[str, Form()] = "",
) -> Response:
    form = {"name": name, "scopes": scopes or [], "roles": roles or [], "data_roles": data_roles}
    try:
        data = ClientCreate(
            name=name,
            scopes=scopes or [],
            roles=roles or [],
            data_roles=_split(data_roles),
        )
        client, secret = await clients.create(session, agency=viewer.agency, data=data)
    except (ValidationError, AccordError, ContractError) as error:
        await session.rollback()
        failure = explain(error)
        return await _clients_page(
            request, viewer, session, status_code=failure.status, failure=failure, form=form
        )
    return _once(request, viewer, "client secret", client.client_id, secret or "")


@router.post("/console/clients/{client_pk}")
async def change_client(
    request: Request,
    client_pk: uuid.UUID,
    viewer: ClientWriter,
    session: Session,
    action: Annotated[str, Form()] = "",
) -> Response:
    patches = {
        "disable": ClientPatch(disabled=True),
        "enable": ClientPatch(disabled=False),
        "rotate_secret": ClientPatch(rotate_secret=True),
    }
    if action not in patches:
        return await _clients_page(
            request,
            viewer,
            session,
            status_code=422,
            failure=Failure(422, "Unknown action", "Choose disable, enable or rotate secret."),
        )
    try:
        client, secret = await clients.update(session, viewer.principal, client_pk, patches[action])
    except (AccordError, ContractError) as error:
        await session.rollback()
        failure = explain(error)
        return await _clients_page(
            request, viewer, session, status_code=failure.status, failure=failure
        )
    if secret:
        return _once(request, viewer, "client secret", client.client_id, secret)
    return see_other(f"/console/clients?done={action}")
