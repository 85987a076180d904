"""authlib's ``AuthorizationServer`` on our tables: grants, client authentication, tokens.

One server is built per token request around that request's synchronous session, which keeps
authlib's sync, callback-style API free of shared state between threads.
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auth.keys import TokenKeys
from auth.models import (
    ApiClient,
    AuthorizationCode,
    RefreshToken,
    RevokedToken,
    UsedAssertion,
    User,
)
from auth.passwords import hash_secret, new_secret, verify_secret
from auth.scopes import ALL_SCOPES, parse_scope, scopes_for_roles
from auth.tokens import AccessClaims, InvalidToken, issue_access_token, verify_access_token
from kit.db.base import new_id, utcnow

from .requests import HttpSnapshot, SnapshotRequest

CODE_LIFETIME = timedelta(minutes=5)
#: Client assertions must be short-lived, so remembered ``jti`` values can be pruned. An hour
#: is what common client libraries (authlib among them) put in ``exp`` by default.
MAX_ASSERTION_LIFETIME = timedelta(minutes=65)
ASSERTION_ALGORITHMS = ["EdDSA", "ES256", "ES384", "RS256", "PS256"]
SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
ALL_AUTH_METHODS = [*SECRET_METHODS, "private_key_jwt", "none"]


@dataclass
class OAuthContext:
    session: Session
    keys: TokenKeys
    issuer: str
    access_ttl: int
    refresh_ttl: int
    now: datetime = field(default_factory=utcnow)
    #: The refresh-token family the token being issued belongs to (set by the grant).
    family_id: uuid.UUID | None = None


class ClientAdapter(ClientMixin):  # type: ignore[misc]
    def __init__(self, row: ApiClient) -> None:
        self.row = row
        self.client_id = row.client_id

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.row.redirect_uris[0] if self.row.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.row.scopes)
        requested = parse_scope(scope) if scope else sorted(allowed)
        return " ".join(s for s in requested if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_secret(self.row.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.row.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


class CodeAdapter:
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


class RefreshAdapter:
    def __init__(self, row: RefreshToken) -> None:
        self.row = row

    def check_client(self, client: ClientAdapter) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.row.used_at is not None


class AccessAdapter:
    def __init__(self, claims: AccessClaims) -> None:
        self.claims = claims

    def check_client(self, client: ClientAdapter) -> bool:
        return self.claims.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return " ".join(sorted(self.claims.scopes))

    def is_expired(self) -> bool:
        return self.claims.expires_at <= int(utcnow().timestamp())

    def is_revoked(self) -> bool:
        return False


def _user_may_act(user: User | None) -> User | None:
    return user if user is not None and not user.disabled else None


class StrictS256(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only, required of every authorization request (RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with method S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_METHODS, "private_key_jwt"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = parse_scope(self.request.payload.scope)
        allowed = set(self.request.client.row.scopes)
        beyond = [s for s in requested if s not in allowed]
        if beyond:
            raise InvalidScopeError(
                description=f"This client is not registered for: {' '.join(beyond)}."
            )

    def generate_token(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # No scope asked for means every scope the client's admin registered (RFC 6749 §3.3).
        if not kwargs.get("scope"):
            kwargs["scope"] = " ".join(self.request.client.row.scopes)
        token: dict[str, Any] = super().generate_token(*args, **kwargs)
        return token


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    @property
    def ctx(self) -> OAuthContext:
        ctx: OAuthContext = self.server.ctx
        return ctx

    def save_authorization_code(self, code: str, request: SnapshotRequest) -> None:
        user: User = request.user
        client: ClientAdapter = request.client
        requested = parse_scope(request.payload.scope) or sorted(client.row.scopes)
        granted = set(client.row.scopes) & scopes_for_roles(user.roles)
        data = request.payload.data
        self.ctx.session.add(
            AuthorizationCode(
                code_hash=hash_secret(code),
                client_id=client.get_client_id(),
                user_id=user.id,
                redirect_uri=request.payload.redirect_uri or "",
                scope=" ".join(s for s in requested if s in granted),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                expires_at=self.ctx.now + CODE_LIFETIME,
            )
        )
        self.ctx.session.flush()

    def query_authorization_code(self, code: str, client: ClientAdapter) -> CodeAdapter | None:
        row = self.ctx.session.get(AuthorizationCode, hash_secret(code))
        if row is None or row.client_id != client.get_client_id() or row.expires_at <= self.ctx.now:
            return None
        return CodeAdapter(row)

    def delete_authorization_code(self, authorization_code: CodeAdapter) -> None:
        self.ctx.session.delete(authorization_code.row)
        self.ctx.session.flush()

    def authenticate_user(self, authorization_code: CodeAdapter) -> User | None:
        return _user_may_act(self.ctx.session.get(User, authorization_code.row.user_id))

    def generate_token(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.ctx.family_id = new_id()
        token: dict[str, Any] = super().generate_token(*args, **kwargs)
        return token


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    @property
    def ctx(self) -> OAuthContext:
        ctx: OAuthContext = self.server.ctx
        return ctx

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshAdapter | None:
        row = self.ctx.session.get(RefreshToken, hash_secret(refresh_token))
        if row is None:
            return None
        if row.used_at is not None or row.revoked_at is not None:
            # A rotated token presented again means it leaked: revoke the whole family, and
            # every access token issued under it (RFC 9700 §4.14.2).
            revoke_family(self.ctx.session, row.family_id, self.ctx.now, self.ctx.refresh_ttl)
            return None
        if row.expires_at <= self.ctx.now:
            return None
        return RefreshAdapter(row)

    def authenticate_user(self, refresh_token: RefreshAdapter) -> User | None:
        return _user_may_act(self.ctx.session.get(User, refresh_token.row.user_id))

    def revoke_old_credential(self, refresh_token: RefreshAdapter) -> None:
        refresh_token.row.used_at = self.ctx.now
        self.ctx.session.flush()

    def generate_token(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.ctx.family_id = self.request.refresh_token.row.family_id
        token: dict[str, Any] = super().generate_token(*args, **kwargs)
        return token


def revoke_family(session: Session, family_id: uuid.UUID, now: datetime, ttl: int) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    key = f"family:{family_id}"
    if session.get(RevokedToken, key) is None:
        session.add(RevokedToken(key=key, revoked_at=now, expires_at=now + timedelta(seconds=ttl)))
    session.flush()


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """``private_key_jwt`` client authentication (RFC 7523 §2.2, OIDC Core §9)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, ctx: OAuthContext, audiences: list[str]) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.ctx = ctx
        self.audiences = audiences

    def get_audiences(self) -> list[str]:
        return self.audiences

    def resolve_client_public_key(self, client: ClientAdapter) -> KeySet:
        if not client.row.jwks:
            raise InvalidClientError(description="The client has no registered public key.")
        return KeySet.import_key_set(client.row.jwks)  # type: ignore[arg-type]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="The client assertion does not verify.") from exc
        self.verify_claims(token.claims)
        claims: dict[str, Any] = dict(token.claims)
        lifetime = int(claims["exp"]) - int(claims.get("iat", claims["exp"]))
        if lifetime > MAX_ASSERTION_LIFETIME.total_seconds():
            raise InvalidClientError(
                description="The client assertion lives too long (max 1 hour)."
            )
        return token.claims

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        key = f"{claims['sub']}:{jti}"[:200]
        if self.ctx.session.get(UsedAssertion, key) is not None:
            return False
        self.ctx.session.add(
            UsedAssertion(key=key, expires_at=self.ctx.now + MAX_ASSERTION_LIFETIME)
        )
        self.ctx.session.flush()
        return True


def _find_token(
    ctx: OAuthContext, token: str, hint: str | None
) -> RefreshAdapter | AccessAdapter | None:
    if hint != "access_token":
        row = ctx.session.get(RefreshToken, hash_secret(token))
        if row is not None:
            return RefreshAdapter(row)
    try:
        claims = verify_access_token(ctx.keys.verification, token, issuer=ctx.issuer)
    except InvalidToken:
        return None
    return AccessAdapter(claims)


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = [*SECRET_METHODS, "private_key_jwt", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _find_token(self.server.ctx, token_string, token_type_hint)

    def revoke_token(self, token: Any, request: Any) -> None:
        ctx: OAuthContext = self.server.ctx
        if isinstance(token, RefreshAdapter):
            revoke_family(ctx.session, token.row.family_id, ctx.now, ctx.refresh_ttl)
            return
        key = f"jti:{token.claims.token_id}"
        if ctx.session.get(RevokedToken, key) is None:
            expires = datetime.fromtimestamp(token.claims.expires_at, tz=ctx.now.tzinfo)
            ctx.session.add(RevokedToken(key=key, revoked_at=ctx.now, expires_at=expires))
            ctx.session.flush()


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = [*SECRET_METHODS, "private_key_jwt"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        token = _find_token(self.server.ctx, token_string, token_type_hint)
        # Refresh tokens are for the client that holds them, not for resource servers.
        return token if isinstance(token, AccessAdapter) else None

    def check_permission(self, token: Any, client: ClientAdapter, request: Any) -> bool:
        # A resource server may only learn about tokens of its own agency.
        return bool(token.claims.agency == client.row.agency)

    def introspect_token(self, token: AccessAdapter) -> dict[str, Any]:
        from auth.introspect import still_active

        if not still_active(self.server.ctx.session, token.claims):
            return {"active": False}
        return token.claims.as_introspection()

    def create_endpoint_response(self, request: Any) -> Any:
        # authlib answers 401 when the token belongs to someone else; RFC 7662 §2.2 says an
        # inactive answer is right, and it reveals nothing.
        try:
            return super().create_endpoint_response(request)
        except Exception as exc:
            if type(exc).__name__ == "AccessDeniedError":
                return 200, {"active": False}, [("Content-Type", "application/json")]
            raise


class AccordAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, ctx: OAuthContext) -> None:
        super().__init__(scopes_supported=sorted(ALL_SCOPES))
        self.ctx = ctx
        self.register_token_generator("default", self._generate)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(AuthorizationCodeGrant, [StrictS256(required=True)])
        self.register_grant(RefreshTokenGrant)
        token_url = f"{ctx.issuer}/oauth/token"
        self.register_client_auth_method(
            "private_key_jwt", PrivateKeyJwt(ctx, [token_url, ctx.issuer])
        )
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    def query_client(self, client_id: str) -> ClientAdapter | None:
        row = self.ctx.session.scalars(
            select(ApiClient).where(ApiClient.client_id == client_id)
        ).first()
        if row is None or row.disabled:
            return None
        return ClientAdapter(row)

    def save_token(self, token: dict[str, Any], request: SnapshotRequest) -> None:
        refresh = token.get("refresh_token")
        if not refresh or request.user is None:
            return
        assert self.ctx.family_id is not None  # noqa: S101 - set by the grant before issuing
        self.ctx.session.add(
            RefreshToken(
                token_hash=hash_secret(refresh),
                family_id=self.ctx.family_id,
                client_id=request.client.get_client_id(),
                user_id=request.user.id,
                scope=token.get("scope", ""),
                issued_at=self.ctx.now,
                expires_at=self.ctx.now + timedelta(seconds=self.ctx.refresh_ttl),
            )
        )
        self.ctx.session.flush()

    def create_oauth2_request(self, request: HttpSnapshot | SnapshotRequest) -> SnapshotRequest:
        if isinstance(request, SnapshotRequest):
            return request
        return SnapshotRequest(request)

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, Any]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def _generate(
        self,
        grant_type: str,
        client: ClientAdapter,
        user: User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        scopes = parse_scope(scope)
        owner: User | ApiClient = user if user is not None else client.row
        ttl = self.ctx.access_ttl
        access = issue_access_token(
            self.ctx.keys,
            issuer=self.ctx.issuer,
            subject=str(user.id) if user is not None else client.get_client_id(),
            client_id=client.get_client_id(),
            scopes=scopes,
            agency=owner.agency,
            roles=list(owner.roles),
            data_roles=list(owner.data_roles),
            kind="user" if user is not None else "client",
            token_id=new_id().hex,
            ttl_seconds=ttl,
            family=str(self.ctx.family_id) if user is not None and self.ctx.family_id else None,
            now=int(self.ctx.now.timestamp()),
        )
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": ttl,
            "scope": " ".join(scopes),
        }
        if include_refresh_token and user is not None and client.check_grant_type("refresh_token"):
            token["refresh_token"] = new_secret(32)
        return token
