"""Whether an access token still stands: one rule for API calls and for RFC 7662 introspection.

A JWT verifies offline until it expires; these checks make a disabled account, a removed role
or a revoked token take effect on the very next request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import ApiClient, RevokedToken, User
from .tokens import AccessClaims


@dataclass(frozen=True)
class Standing:
    active: bool
    roles: frozenset[str] = frozenset()
    data_roles: frozenset[str] = frozenset()


INACTIVE = Standing(active=False)


def standing(
    claims: AccessClaims, client: ApiClient | None, user: User | None, revoked: bool
) -> Standing:
    """The roles the token may still use: those it carries that its account still holds."""
    if revoked or client is None or client.disabled or client.agency != claims.agency:
        return INACTIVE
    if claims.kind == "client":
        account: ApiClient | User = client
    elif user is None or user.disabled or user.agency != claims.agency:
        return INACTIVE
    else:
        account = user
    return Standing(
        active=True,
        roles=claims.roles & frozenset(account.roles),
        data_roles=claims.data_roles & frozenset(account.data_roles),
    )


def revocation_keys(claims: AccessClaims) -> list[str]:
    return [f"jti:{claims.token_id}"] + ([f"family:{claims.family}"] if claims.family else [])


def user_id_of(claims: AccessClaims) -> uuid.UUID | None:
    if claims.kind != "user":
        return None
    try:
        return uuid.UUID(claims.subject)
    except ValueError:
        return None


def still_active(session: Session, claims: AccessClaims) -> bool:
    client = session.scalars(
        select(ApiClient).where(ApiClient.client_id == claims.client_id)
    ).first()
    user_id = user_id_of(claims)
    user = session.get(User, user_id) if user_id else None
    revoked = (
        session.scalars(
            select(RevokedToken.key).where(RevokedToken.key.in_(revocation_keys(claims)))
        ).first()
        is not None
    )
    return standing(claims, client, user, revoked).active
