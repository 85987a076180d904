"""``/v1/users``: an agency's admins manage its people."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query

from auth.dependencies import NodePasswords, Requires
from auth.principal import Principal
from kit.db.repository import DEFAULT_LIMIT, MAX_LIMIT
from kit.db.session import Session
from kit.http.routing import api_router

from . import repository, service
from .schemas import UserCreate, UserOut, UserPage, UserPatch, UserWithPassword

router = api_router(prefix="/v1/users", tags=["users"])

Reader = Annotated[Principal, Requires(scope="users:read", role="admin")]
Writer = Annotated[Principal, Requires(scope="users:write", role="admin")]
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid token"},
    403: {"description": "Missing scope or role"},
}


@router.post("", status_code=201, responses={**_ERRORS, 409: {"description": "Email taken"}})
async def create_user(
    data: UserCreate, principal: Writer, session: Session, passwords: NodePasswords
) -> UserWithPassword:
    user, password = await service.create(
        session, agency=principal.agency, data=data, passwords=passwords
    )
    return UserWithPassword.model_validate(user).model_copy(update={"password": password})


@router.get("", responses=_ERRORS)
async def list_users(
    principal: Reader,
    session: Session,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> UserPage:
    page = await repository.page_for(session, principal, cursor=cursor, limit=limit)
    return UserPage(
        items=[UserOut.model_validate(u) for u in page.items], next_cursor=page.next_cursor
    )


@router.get("/{user_id}", responses={**_ERRORS, 404: {"description": "Not at your agency"}})
async def get_user(user_id: uuid.UUID, principal: Reader, session: Session) -> UserOut:
    return UserOut.model_validate(await service.get(session, principal, user_id))


@router.patch("/{user_id}", responses={**_ERRORS, 404: {}, 409: {}})
async def update_user(
    user_id: uuid.UUID,
    patch: UserPatch,
    principal: Writer,
    session: Session,
    passwords: NodePasswords,
) -> UserWithPassword:
    user, password = await service.update(session, principal, user_id, patch, passwords=passwords)
    return UserWithPassword.model_validate(user).model_copy(update={"password": password})
