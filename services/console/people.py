"""Admins manage their agency's people and API clients: create, disable, and new secrets,
which are shown once, on the page that made them, and never again."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from auth.clients import service as clients
from auth.clients.schemas import ClientCreate, ClientPatch
from auth.dependencies import NodePasswords
from auth.scopes import ALL_ROLES, ALL_SCOPES
from auth.users import repository as user_rows
from auth.users import service as users
from auth.users.schemas import UserCreate, UserPatch
from kit.db.repository import MAX_LIMIT
from kit.db.session import Session
from kit.i18n import N_, gettext

from .access import ConsoleRequires, Viewer
from .failures import Failure, attempt
from .names import for_viewer
from .render import console_router, page, see_other

router = console_router()

UserReader = Annotated[Viewer, ConsoleRequires(scope="users:read", role="admin")]
UserWriter = Annotated[Viewer, ConsoleRequires(scope="users:write", role="admin")]
ClientReader = Annotated[Viewer, ConsoleRequires(scope="clients:read", role="admin")]
ClientWriter = Annotated[Viewer, ConsoleRequires(scope="clients:write", role="admin")]

DONE = {
    "disable": N_("Disabled: every session and token of theirs stopped working."),
    "enable": N_("Enabled again."),
}


@dataclass(frozen=True)
class Kind:
    """Users or API clients: the same page, list and actions, over a different service."""

    path: str
    template: str
    title: str
    secret: str
    patches: dict[str, Any]


USERS = Kind(
    "/console/users",
    "users.html",
    N_("Users"),
    N_("user's password"),
    {
        "disable": UserPatch(disabled=True),
        "enable": UserPatch(disabled=False),
        "reset_password": UserPatch(reset_password=True),
    },
)
CLIENTS = Kind(
    "/console/clients",
    "clients.html",
    N_("API clients"),
    N_("client secret"),
    {
        "disable": ClientPatch(disabled=True),
        "enable": ClientPatch(disabled=False),
        "rotate_secret": ClientPatch(rotate_secret=True),
    },
)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


async def _listing(
    request: Request,
    viewer: Viewer,
    session: Session,
    kind: Kind,
    *,
    failure: Failure | None = None,
    form: dict[str, Any] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    if kind is USERS:
        found = await user_rows.page_for(session, viewer.principal, cursor=None, limit=MAX_LIMIT)
        items: list[Any] = list(found.items)
    else:
        listed = await clients.page(
            session, principal=viewer.principal, cursor=None, limit=MAX_LIMIT
        )
        items = [clients.describe(c) for c in listed.items]
    return page(
        request,
        viewer,
        kind.template,
        status_code=failure.status if failure else 200,
        title=gettext(kind.title),
        items=items,
        roles=sorted(ALL_ROLES),
        scopes=sorted(ALL_SCOPES),
        failure=failure,
        form=form or {"roles": [], "scopes": []},
        notice=notice,
        names=await for_viewer(request, session, viewer),
    )


def _once(request: Request, viewer: Viewer, kind: Kind, name: str, secret: str) -> HTMLResponse:
    shown = page(
        request,
        viewer,
        "secret.html",
        title=gettext("New user's password") if kind is USERS else gettext("New client secret"),
        what=gettext(kind.secret),
        name=name,
        secret=secret,
        back=kind.path,
    )
    shown.headers["Cache-Control"] = "no-store"
    return shown


async def _created(
    request: Request,
    viewer: Viewer,
    session: Session,
    kind: Kind,
    form: dict[str, Any],
    create: Callable[[], Awaitable[tuple[Any, str | None]]],
) -> Response:
    made = await attempt(session, create)
    if isinstance(made, Failure):
        return await _listing(request, viewer, session, kind, failure=made, form=form)
    row, secret = made
    return _once(request, viewer, kind, getattr(row, "email", None) or row.client_id, secret or "")


async def _changed(
    request: Request,
    viewer: Viewer,
    session: Session,
    kind: Kind,
    action: str,
    update: Callable[[Any], Awaitable[tuple[Any, str | None]]],
) -> Response:
    if action not in kind.patches:
        choices = ", ".join(a.replace("_", " ") for a in kind.patches)
        unknown = Failure(
            422, N_("Unknown action"), gettext("Choose one of: %(choices)s.") % {"choices": choices}
        )
        return await _listing(request, viewer, session, kind, failure=unknown)
    done = await attempt(session, lambda: update(kind.patches[action]))
    if isinstance(done, Failure):
        return await _listing(request, viewer, session, kind, failure=done)
    row, secret = done
    if secret:
        return _once(request, viewer, kind, getattr(row, "email", None) or row.client_id, secret)
    return see_other(f"{kind.path}?done={action}")


@router.get("/console/users")
async def user_list(
    request: Request, viewer: UserReader, session: Session, done: str = ""
) -> HTMLResponse:
    return await _listing(
        request, viewer, session, USERS, notice=gettext(DONE[done]) if done in DONE else None
    )


@router.post("/console/users")
async def create_user(
    request: Request,
    viewer: UserWriter,
    session: Session,
    passwords: NodePasswords,
    email: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    data_roles: Annotated[str, Form()] = "",
) -> Response:
    form = {"email": email, "display_name": display_name, "roles": roles or []}

    async def create() -> tuple[Any, str | None]:
        data = UserCreate.model_validate(
            form | {"roles": roles or [], "data_roles": _split(data_roles)}
        )
        return await users.create(session, agency=viewer.agency, data=data, passwords=passwords)

    return await _created(
        request, viewer, session, USERS, form | {"data_roles": data_roles}, create
    )


@router.post("/console/users/{user_id}")
async def change_user(
    request: Request,
    user_id: uuid.UUID,
    viewer: UserWriter,
    session: Session,
    passwords: NodePasswords,
    action: Annotated[str, Form()] = "",
) -> Response:
    return await _changed(
        request,
        viewer,
        session,
        USERS,
        action,
        lambda patch: users.update(
            session, principal=viewer.principal, user_id=user_id, patch=patch, passwords=passwords
        ),
    )


@router.get("/console/clients")
async def client_list(
    request: Request, viewer: ClientReader, session: Session, done: str = ""
) -> HTMLResponse:
    return await _listing(
        request, viewer, session, CLIENTS, notice=gettext(DONE[done]) if done in DONE else None
    )


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
    form = {"name": name, "scopes": scopes or [], "roles": roles or []}

    async def create() -> tuple[Any, str | None]:
        data = ClientCreate.model_validate(form | {"data_roles": _split(data_roles)})
        return await clients.create(session, agency=viewer.agency, data=data)

    return await _created(
        request, viewer, session, CLIENTS, form | {"data_roles": data_roles}, create
    )


@router.post("/console/clients/{client_pk}")
async def change_client(
    request: Request,
    client_pk: uuid.UUID,
    viewer: ClientWriter,
    session: Session,
    action: Annotated[str, Form()] = "",
) -> Response:
    return await _changed(
        request,
        viewer,
        session,
        CLIENTS,
        action,
        lambda patch: clients.update(
            session, principal=viewer.principal, client_pk=client_pk, patch=patch
        ),
    )
