"""FastAPI dependencies that turn a bearer token into a ``Principal`` and enforce requirements.

Every route declares what it needs with ``Requires(scope=..., role=...)``; a test walks the
app's routes and fails on any route that declares nothing and is not explicitly public.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowAuthorizationCode, OAuthFlowClientCredentials
from fastapi.openapi.models import OAuthFlows as OAuthFlowsModel
from fastapi.security import OAuth2
from sqlalchemy import bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit import i18n
from kit.db.session import database
from kit.errors import Forbidden, Unauthenticated
from kit.http.state import on_the_loop

from .introspect import Standing, revocation_keys, standing, user_id_of
from .keys import TokenKeys
from .models import ApiClient, RevokedToken, User
from .passwords import Passwords
from .principal import Principal
from .scopes import SCOPE_DESCRIPTIONS
from .tokens import AccessClaims, InvalidToken, verify_access_token

REALM = 'Bearer realm="accord"'

_SCOPES = {scope.value: text for scope, text in sorted(SCOPE_DESCRIPTIONS.items())}

#: How a token is obtained, for the OpenAPI document (and so the Authorize button of /docs).
#: ``auto_error=False``: it only documents; :func:`current_principal` reads the header itself,
#: so a missing or malformed token is our own 401 problem with its ``WWW-Authenticate``.
oauth2_scheme = OAuth2(
    flows=OAuthFlowsModel(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token", scopes=_SCOPES),
        authorizationCode=OAuthFlowAuthorizationCode(
            authorizationUrl="/oauth/authorize", tokenUrl="/oauth/token", scopes=_SCOPES
        ),
    ),
    scheme_name="OAuth2",
    description="Access tokens (RFC 9068 JWTs) from `/oauth/token`: client credentials for "
    "agency systems, authorization code with PKCE (S256) for people. Each operation names "
    "the scope it needs, and its description the roles.",
    auto_error=False,
)


def _challenge(error: str | None = None, description: str | None = None, **extra: str) -> str:
    parts = [REALM]
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    parts.extend(f'{name}="{value}"' for name, value in extra.items())
    return ", ".join(parts)


def invalid_token(description: str) -> Unauthenticated:
    return Unauthenticated(
        description,
        headers={"WWW-Authenticate": _challenge("invalid_token", description)},
    )


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated(
            i18n.gettext("This operation needs a bearer access token from /oauth/token."),
            headers={"WWW-Authenticate": REALM},
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            i18n.gettext("Send the access token as `Authorization: Bearer <token>`."),
            headers={"WWW-Authenticate": _challenge("invalid_request", "Malformed bearer header")},
        )
    return token.strip()


def node_passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


#: The node's password hashing: Argon2id with its configured parameters.
NodePasswords = Annotated[Passwords, Depends(on_the_loop(node_passwords))]


async def token_keys(request: Request) -> TokenKeys:
    keys: TokenKeys = await request.app.state.token_keys.current()
    return keys


_REVOKED = (
    exists()
    .where(RevokedToken.key.in_(bindparam("revocation_keys", expanding=True)))
    .label("revoked")
)
# Built once: building a statement per call (and its cache key) cost more CPU than running it.
_CLIENT_STANDING = select(ApiClient, _REVOKED).where(ApiClient.client_id == bindparam("client_id"))
_USER_STANDING = (
    select(ApiClient, User, _REVOKED)
    .outerjoin(User, User.id == bindparam("user_id"))
    .where(ApiClient.client_id == bindparam("client_id"))
)


async def _standing(session: AsyncSession, claims: AccessClaims) -> Standing:
    """The token's client, its user (for a person's token) and whether it is revoked, read in
    one statement: every API call pays for this round trip."""
    values: dict[str, Any] = {
        "client_id": claims.client_id,
        "revocation_keys": revocation_keys(claims),
    }
    user_id = user_id_of(claims)
    client: ApiClient | None = None
    user: User | None = None
    is_revoked = False
    if user_id is None:
        found = (await session.execute(_CLIENT_STANDING, values)).first()
        if found is not None:
            client, is_revoked = found[0], bool(found[1])
    else:
        with_user = (await session.execute(_USER_STANDING, values | {"user_id": user_id})).first()
        if with_user is not None:
            client, user, is_revoked = with_user[0], with_user[1], bool(with_user[2])
    return standing(claims, client, user, is_revoked)


async def resolve_principal(request: Request, session: AsyncSession, token: str) -> Principal:
    settings = request.app.state.settings
    holder = request.app.state.token_keys
    keys = await holder.current()
    try:
        claims = keys.verified.get(token) or verify_access_token(
            keys.verification, token, issuer=settings.issuer
        )
        keys.verified.put(token, claims)
    except InvalidToken as exc:
        if "key this node does not know" in exc.description and await holder.refresh():
            try:
                claims = verify_access_token(
                    (await holder.current()).verification, token, issuer=settings.issuer
                )
            except InvalidToken as again:
                raise invalid_token(again.description) from again
        else:
            raise invalid_token(exc.description) from exc
    now_standing = await _standing(session, claims)
    if not now_standing.active:
        raise invalid_token("The token has been revoked, or its account is disabled or gone.")
    return Principal(
        agency=claims.agency,
        kind="user" if claims.kind == "user" else "client",
        subject=claims.subject,
        client_id=claims.client_id,
        roles=now_standing.roles,
        data_roles=now_standing.data_roles,
        scopes=claims.scopes,
        token_id=claims.token_id,
    )


async def current_principal(request: Request) -> Principal:
    """The caller, read in a short read-only transaction of its own that ends before the
    handler's begins. Read in the handler's ``Session`` instead, a read-only handler
    (``ReadSession``) held two pooled connections at once, and on SQLite the write lock for its
    whole length: 16 concurrent listings per worker exhausted the pool, each waiting for its
    second connection, and stalled until the pool's timeout (issue 19)."""
    async with database(request).one_read() as session:
        return await resolve_principal(request, session, _bearer(request))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def idempotency_caller(request: Request, session: AsyncSession) -> tuple[str, str] | None:
    """Whose ``Idempotency-Key`` this is (``kit.http.idempotency``): the agency, and the API
    client or the person, of a valid bearer token; None without one (the request then runs and
    is refused with the usual 401). Resolved exactly as the route will resolve it."""
    try:
        principal = await resolve_principal(request, session, _bearer(request))
    except Unauthenticated:
        return None
    if principal.kind == "user":
        return principal.agency, f"user:{principal.subject}"
    return principal.agency, f"client:{principal.client_id}"


class Requirement:
    """A route's declared need: one scope, and at least one of some roles."""

    def __init__(self, scope: str, roles: frozenset[str]) -> None:
        self.scope = scope
        self.roles = roles

    async def __call__(
        self,
        principal: CurrentPrincipal,
        # Documents the scheme and, through ``Security(..., scopes=[scope])``, the scope; the
        # value is unused (the principal is resolved from the same header, once per request).
        _documented: Annotated[str | None, Depends(oauth2_scheme)],
    ) -> Principal:
        if not principal.has_scope(self.scope):
            raise Forbidden(
                i18n.gettext(
                    "The access token lacks the scope %(scope)s. Request it from /oauth/token."
                )
                % {"scope": self.scope},
                headers={
                    "WWW-Authenticate": _challenge(
                        "insufficient_scope", f"Needs scope {self.scope}", scope=self.scope
                    )
                },
                extra={"required_scope": self.scope},
            )
        if not principal.has_any_role(self.roles):
            raise Forbidden(
                i18n.gettext("This needs the role %(roles)s at %(agency)s.")
                % {"roles": " or ".join(sorted(self.roles)), "agency": principal.agency},
                extra={"required_roles": sorted(self.roles)},
            )
        return principal

    def __repr__(self) -> str:
        return f"Requires(scope={self.scope!r}, roles={sorted(self.roles)!r})"


def Requires(*, scope: str, role: str | Iterable[str]) -> Any:
    """Declare a route's need, read as a type:
    ``principal: Annotated[Principal, Requires(scope="referrals:approve", role="focal_point")]``.
    """
    roles = frozenset([role] if isinstance(role, str) else role)
    return Security(Requirement(scope, roles), scopes=[scope])


__all__ = [
    "CurrentPrincipal",
    "Requirement",
    "Requires",
    "idempotency_caller",
    "oauth2_scheme",
    "resolve_principal",
]
