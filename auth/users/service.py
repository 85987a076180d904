"""Managing people's accounts: created, changed and disabled by their own agency's admins."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import User
from auth.passwords import Passwords, new_password
from auth.principal import Principal
from auth.scopes import Role
from auth.sessions import close_all
from kit import i18n
from kit.errors import Conflict, NotFound, ValidationFailed

from . import repository
from .schemas import UserCreate, UserPatch


async def create(
    session: AsyncSession, *, agency: str, data: UserCreate, passwords: Passwords
) -> tuple[User, str | None]:
    """Create a user of ``agency``; returns the generated password when none was given."""
    if await repository.by_email(session, data.email) is not None:
        raise Conflict(f"A user with the email {data.email} already exists on this node.")
    generated = None if data.password is not None else new_password()
    password = data.password.get_secret_value() if data.password is not None else generated
    assert password is not None  # noqa: S101 - one of the two is always set
    user = User(
        agency=agency,
        email=data.email,
        display_name=data.display_name,
        roles=[r.value for r in data.roles],
        data_roles=list(data.data_roles),
        password_hash=await passwords.hash(password),
        disabled=False,
    )
    return await repository.add(session, user), generated


async def get(session: AsyncSession, *, principal: Principal, user_id: uuid.UUID) -> User:
    user = await repository.get_for(session, principal, user_id)
    if user is None:
        raise NotFound("No user with this id at your agency.")
    return user


async def update(
    session: AsyncSession,
    *,
    principal: Principal,
    user_id: uuid.UUID,
    patch: UserPatch,
    passwords: Passwords,
) -> tuple[User, str | None]:
    user = await get(session, principal=principal, user_id=user_id)
    is_self = principal.user_id == user.id
    if is_self and patch.disabled:
        raise Conflict("You cannot disable your own account; ask another admin.")
    if is_self and patch.roles is not None and Role.ADMIN not in patch.roles:
        raise Conflict("You cannot remove your own admin role; ask another admin.")
    if patch.display_name is not None:
        user.display_name = patch.display_name
    if patch.roles is not None:
        user.roles = [r.value for r in patch.roles]
    if patch.data_roles is not None:
        user.data_roles = list(patch.data_roles)
    if patch.disabled is not None:
        user.disabled = patch.disabled
    generated = None
    if patch.reset_password:
        generated = new_password()
        user.password_hash = await passwords.hash(generated)
        await close_all(session, user.id)
    await session.flush()
    return user, generated


async def set_preferences(
    session: AsyncSession, *, principal: Principal, language: str | None, time_zone: str | None
) -> User:
    """A person's own console language and time zone; None for either means "as my browser
    asks" and "my agency's". Each is checked here, whatever form sent it."""
    wrong: list[tuple[str, str]] = []
    if language is not None and i18n.supported(language) is None:
        wrong.append(("language", i18n.gettext("Choose one of the languages listed.")))
    if time_zone is not None and i18n.valid_time_zone(time_zone) is None:
        wrong.append(
            (
                "time_zone",
                i18n.gettext("Give a time zone by its IANA name, for example Europe/Belgrade."),
            )
        )
    if wrong:
        raise ValidationFailed(
            " ".join(message for _, message in wrong),
            extra={
                "errors": [
                    {"location": place, "message": message, "type": place}
                    for place, message in wrong
                ]
            },
        )
    user_id = principal.user_id
    user = await repository.get_for(session, principal, user_id) if user_id else None
    if user is None:
        raise NotFound("No user with this id at your agency.")
    user.language = language
    user.time_zone = time_zone
    await session.flush()
    return user
