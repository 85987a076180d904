"""``/v1/users``: an agency's admins manage its people."""

from __future__ import annotations

import uuid
from typing import Annotated

from auth.dependencies import NodePasswords, Requires
from auth.principal import Principal
from kit.db.session import Session
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router

from . import repository, service
from .schemas import UserCreate, UserOut, UserPage, UserPatch, UserWithPassword

router = api_router(prefix="/v1/users", tags=["users"])

Reader = Annotated[Principal, Requires(scope="users:read", role="admin")]
Writer = Annotated[Principal, Requires(scope="users:write", role="admin")]


@router.post(
    "",
    status_code=201,
    responses={409: {"description": "Email taken"}},
    summary="Add a person to your agency (a generated password is shown once)",
)
async def create_user(
    data: UserCreate, principal: Writer, session: Session, passwords: NodePasswords
) -> UserWithPassword:
    user, password = await service.create(
        session, agency=principal.agency, data=data, passwords=passwords
    )
    return UserWithPassword.model_validate(user).model_copy(update={"password": password})


@router.get("", summary="Your agency's people, newest first")
async def list_users(
    principal: Reader,
    session: Session,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> UserPage:
    page = await repository.page_for(session, principal, cursor=cursor, limit=limit)
    return UserPage(
        items=[UserOut.model_validate(u) for u in page.items],
        next_cursor=page.next_cursor,
        limit=limit,
    )


@router.get(
    "/{user_id}",
    responses={404: {"description": "Not at your agency"}},
    summary="One person",
)
async def get_user(user_id: uuid.UUID, principal: Reader, session: Session) -> UserOut:
    return UserOut.model_validate(await service.get(session, principal=principal, user_id=user_id))


@router.patch(
    "/{user_id}",
    responses={
        404: {"description": "Not at your agency"},
        409: {"description": "You cannot disable yourself or drop your own admin role"},
    },
    summary="Change roles or data roles, disable, or reset the password",
)
async def update_user(
    user_id: uuid.UUID,
    patch: UserPatch,
    principal: Writer,
    session: Session,
    passwords: NodePasswords,
) -> UserWithPassword:
    user, password = await service.update(
        session, principal=principal, user_id=user_id, patch=patch, passwords=passwords
    )
    return UserWithPassword.model_validate(user).model_copy(update={"password": password})
