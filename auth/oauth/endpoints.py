"""OAuth 2.0 endpoints: token (RFC 6749), revocation (RFC 7009), introspection (RFC 7662),
authorization with PKCE (RFC 7636), server metadata (RFC 8414) and the JWKS."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session as SyncSession

from auth import throttle
from auth.keys import TokenKeys
from auth.scopes import ALL_SCOPES
from auth.sessions import SESSION_COOKIE, current_session
from auth.throttle import Throttle
from kit.db.session import Database, database
from kit.errors import AccordError, TooManyRequests
from kit.http.client_address import client_address
from kit.http.openapi import inline_schema
from kit.http.problems import problem_response, request_id_of
from kit.http.routing import api_router
from kit.http.schemas import JwkSet

from .requests import HttpSnapshot
from .schemas import (
    Introspection,
    Revoked,
    ServerMetadata,
    TokenForm,
    TokenRequestForm,
    TokenResponse,
)
from .server import ALL_AUTH_METHODS, ASSERTION_ALGORITHMS, AccordAuthorizationServer, OAuthContext

router = api_router(tags=["oauth"])

_AUTHORIZE_PARAMETERS = [
    {"name": name, "in": "query", "required": required, "schema": schema, "description": text}
    for name, required, schema, text in [
        ("response_type", True, {"type": "string", "enum": ["code"]}, "Always `code`."),
        ("client_id", True, {"type": "string"}, "The registered client."),
        ("redirect_uri", False, {"type": "string"}, "One of the client's redirect URIs."),
        ("scope", False, {"type": "string"}, "Space-separated scopes."),
        ("state", False, {"type": "string"}, "Returned unchanged (CSRF protection)."),
        ("code_challenge", True, {"type": "string"}, "PKCE (RFC 7636), required."),
        ("code_challenge_method", True, {"type": "string", "enum": ["S256"]}, "Only S256."),
    ]
]


class OAuthProblem(AccordError):
    slug = "oauth-error"
    title = "OAuth request refused"
    explanation = (
        "The OAuth endpoint refused the request; `error` and `error_description` carry the "
        "RFC 6749 §5.2 code (invalid_client, invalid_grant, invalid_scope, ...)."
    )


async def _snapshot(request: Request) -> HttpSnapshot:
    settings = request.app.state.settings
    form: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    if request.method == "POST":
        parsed = await request.form()
        for key, value in parsed.multi_items():
            if isinstance(value, str):
                lists.setdefault(key, []).append(value)
                form.setdefault(key, value)
    query = f"?{request.url.query}" if request.url.query else ""
    return HttpSnapshot(
        method=request.method,
        uri=f"{settings.issuer}{request.url.path}{query}",
        headers=request.headers,
        args=dict(request.query_params),
        form=form,
        form_lists=lists,
        address=client_address(request),
    )


def _client_id_claimed(snapshot: HttpSnapshot) -> str | None:
    """Who the caller says it is, before authentication: the account its failures count against."""
    if snapshot.form.get("client_id"):
        return snapshot.form["client_id"]
    header = snapshot.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            return base64.b64decode(header[6:]).decode().partition(":")[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    assertion = snapshot.form.get("client_assertion")
    if assertion:
        from auth.tokens import unverified_subject

        return unverified_subject(assertion)
    return None


def _oauth_response(request: Request, status: int, body: Any, headers: Any) -> Response:
    header_map = {k: v for k, v in (headers or []) if k.lower() != "content-type"}
    if status >= 400 and isinstance(body, dict) and "error" in body:
        detail = body.get("error_description") or body["error"].replace("_", " ")
        problem = OAuthProblem(
            str(detail), status=status, extra={k: v for k, v in body.items() if k != "state"}
        ).problem()
        return problem_response(problem, request_id=request_id_of(request), headers=header_map)
    header_map.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
    return JSONResponse(body, status_code=status, headers=header_map)


def _context(request: Request, session: Any, keys: TokenKeys) -> OAuthContext:
    settings = request.app.state.settings
    return OAuthContext(
        session=session,
        keys=keys,
        issuer=settings.issuer,
        access_ttl=settings.access_token_ttl_seconds,
        refresh_ttl=settings.refresh_token_ttl_seconds,
    )


def _run_endpoint(
    request: Request, session: SyncSession, keys: TokenKeys, snapshot: HttpSnapshot, name: str
) -> tuple[int, Any, Any]:
    """One synchronous transaction: authlib, then commit.

    Committed whatever authlib answered: a refused refresh token must still revoke its family.
    """
    server = AccordAuthorizationServer(_context(request, session, keys))
    if name == "token":
        status, body, headers = server.create_token_response(snapshot)
    else:
        status, body, headers = server.create_endpoint_response(name, snapshot)
    session.commit()
    return status, body, headers


def _failed(status: int, body: Any) -> bool:
    """A credential that was wrong: the client's secret or assertion, a code or refresh token."""
    return (
        status in (400, 401)
        and isinstance(body, dict)
        and body.get("error") in {"invalid_client", "invalid_grant", "unauthorized_client"}
    )


async def _settle(db: Database, attempt: throttle.Attempt, status: int, body: Any) -> None:
    """A wrong credential stays recorded (and is refused as such while its pair is locked); a
    right one forgives its pair; anything else does not count."""
    if _failed(status, body):
        if attempt.locked_for is not None:
            raise TooManyRequests(
                f"Too many failed attempts; try again in {attempt.locked_for} seconds.",
                headers={"Retry-After": str(attempt.locked_for)},
            )
        return
    async with db.sessions.begin() as session:
        if status == 200:
            await throttle.succeeded(session, attempt)
        else:
            await throttle.forget(session, attempt)


async def _endpoint(request: Request, name: str) -> Response:
    snapshot = await _snapshot(request)
    keys = await request.app.state.token_keys.current()
    db = database(request)
    guard: Throttle = request.app.state.throttle
    claimed = _client_id_claimed(snapshot)
    # Without a client id nothing is being guessed, and there is no account to count against.
    attempt = (
        await guard.admit(db, account=f"client:{claimed}", address=snapshot.address)
        if claimed
        else None
    )
    # Checked even when the pair is locked: every credential here carries at least 128 random
    # bits, so a lock protects nothing, while refusing a right one would cut off an agency's
    # system for the failures of a misconfigured neighbour behind the same address.
    status, body, headers = await db.in_sync_session(
        lambda session: _run_endpoint(request, session, keys, snapshot, name)
    )
    if attempt is not None:
        await _settle(db, attempt, status, body)
    return _oauth_response(request, status, body, headers)


def _form(model: type[BaseModel]) -> dict[str, Any]:
    """authlib reads the form itself (RFC 6749 §4), so it is declared here."""
    return {
        "requestBody": {
            "content": {"application/x-www-form-urlencoded": {"schema": inline_schema(model)}},
            "required": True,
        }
    }


_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "RFC 6749 §5.2 error (`error`, `error_description`)"},
    401: {"description": "The client failed to authenticate (`invalid_client`)"},
    429: {"description": "Too many failed attempts; see Retry-After"},
}


@router.post(
    "/oauth/token",
    summary="Obtain an access token (client_credentials, authorization_code, refresh_token)",
    openapi_extra=_form(TokenForm),
    response_model=TokenResponse,
    responses=_OAUTH_ERRORS,
)
async def token(request: Request) -> Response:
    return await _endpoint(request, "token")


@router.post(
    "/oauth/revoke",
    summary="Revoke a token (RFC 7009)",
    openapi_extra=_form(TokenRequestForm),
    response_model=Revoked,
    responses=_OAUTH_ERRORS,
)
async def revoke(request: Request) -> Response:
    return await _endpoint(request, "revocation")


@router.post(
    "/oauth/introspect",
    summary="Introspect a token (RFC 7662)",
    openapi_extra=_form(TokenRequestForm),
    response_model=Introspection,
    responses=_OAUTH_ERRORS,
)
async def introspect(request: Request) -> Response:
    return await _endpoint(request, "introspection")


@router.get(
    "/oauth/authorize",
    summary="Authorization endpoint: code flow with PKCE S256, after console sign-in",
    response_class=Response,
    status_code=302,
    responses={
        302: {"description": "To the client's redirect URI, with the code or an error"},
        303: {"description": "Not signed in: to the console sign-in page, then back here"},
        400: {"description": "RFC 6749 §4.1.2.1 error that cannot be redirected"},
    },
    openapi_extra={"parameters": _AUTHORIZE_PARAMETERS},
)
async def authorize(request: Request) -> Response:
    settings = request.app.state.settings
    # The session lookup commits before the synchronous grant runs: on SQLite an open async
    # transaction would hold the write lock the grant's own transaction waits for.
    async with database(request).sessions.begin() as session:
        signed_in = await current_session(session, request.cookies.get(SESSION_COOKIE), settings)
    if signed_in is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/console/login?{urlencode({'next': target})}", status_code=303)
    user, _ = signed_in
    snapshot = await _snapshot(request)
    keys = await request.app.state.token_keys.current()

    def grant(sync_session: SyncSession) -> tuple[int, Any, Any]:
        server = AccordAuthorizationServer(_context(request, sync_session, keys))
        try:
            consent = server.get_consent_grant(request=snapshot, end_user=user)
        except OAuth2Error as exc:
            return exc.status_code, dict(exc.get_body()), []
        if consent.client.row.agency != user.agency:
            return (
                400,
                {
                    "error": "access_denied",
                    "error_description": "This client belongs to another agency.",
                },
                [],
            )
        # Clients are registered by the person's own agency admin: first-party, so the
        # sign-in is the approval and no separate consent screen is shown.
        result = server.create_authorization_response(
            request=snapshot, grant_user=sync_session.merge(user), grant=consent
        )
        sync_session.commit()
        return result  # type: ignore[no-any-return]

    status, body, headers = await database(request).in_sync_session(grant)
    if status in (301, 302, 303):
        return RedirectResponse(dict(headers)["Location"], status_code=302)
    return _oauth_response(request, status, body, headers)


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 server metadata")
async def metadata(request: Request) -> ServerMetadata:
    issuer = request.app.state.settings.issuer
    return ServerMetadata.model_validate(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oauth/authorize",
            "token_endpoint": f"{issuer}/oauth/token",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "revocation_endpoint": f"{issuer}/oauth/revoke",
            "introspection_endpoint": f"{issuer}/oauth/introspect",
            "scopes_supported": sorted(ALL_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "revocation_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
            "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "introspection_endpoint_auth_methods_supported": [
                m for m in ALL_AUTH_METHODS if m != "none"
            ],
            "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": False,
        }
    )


@router.get("/.well-known/jwks.json", summary="Public keys that verify this node's access tokens")
async def jwks(request: Request) -> JwkSet:
    keys: TokenKeys = await request.app.state.token_keys.current()
    return JwkSet.model_validate(keys.jwks())
