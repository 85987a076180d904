"""People authorize agency apps through the code flow with PKCE (S256 only), after signing in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import jwt as pyjwt
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import FastAPI

from tests.auth.conftest import oauth_client
from tests.support.identity import (
    BASE_URL,
    TOKEN_URL,
    SeededClient,
    SeededUser,
    bearer,
    seed_client,
    seed_user,
    sign_in,
)

REDIRECT = "http://127.0.0.1:9999/callback"
AUTHORIZE = f"{BASE_URL}/oauth/authorize"


@pytest.fixture
async def app_client(app: FastAPI, agencies) -> SeededClient:
    """A public caseworker app of UNHCR: no secret, so PKCE is all that binds code to caller."""
    return await seed_client(
        app,
        "unhcr",
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT],
    )


@pytest.fixture
async def focal_point(app: FastAPI, agencies) -> SeededUser:
    return await seed_user(app, "unhcr", "fp@unhcr.example", roles=["focal_point"])


async def _authorize(client: httpx.AsyncClient, url: str, user: SeededUser) -> httpx.Response:
    first = await client.get(url)
    assert first.status_code == 303
    login_next = parse_qs(urlsplit(first.headers["location"]).query)["next"][0]
    signed_in = await sign_in(client, user, login_next)
    assert signed_in.status_code == 303, signed_in.text
    return await client.get(signed_in.headers["location"])


async def _code_flow(app, client, app_client, user, scope="cases:read referrals:approve"):
    verifier = generate_token(48)
    oauth = oauth_client(
        app,
        client_id=app_client.client_id,
        token_endpoint_auth_method="none",
        redirect_uri=REDIRECT,
        scope=scope,
        code_challenge_method="S256",
    )
    url, _state = oauth.create_authorization_url(AUTHORIZE, code_verifier=verifier)
    redirected = await _authorize(client, url, user)
    assert redirected.status_code == 302, redirected.text
    location = redirected.headers["location"]
    assert location.startswith(REDIRECT)
    return oauth, verifier, location


async def test_code_flow_with_pkce_yields_a_person_token(
    app: FastAPI, client: httpx.AsyncClient, app_client, focal_point
) -> None:
    oauth, verifier, location = await _code_flow(app, client, app_client, focal_point)
    async with oauth:
        token = await oauth.fetch_token(
            TOKEN_URL, authorization_response=location, code_verifier=verifier
        )
    claims = pyjwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["sub"] == focal_point.id
    assert claims["agency"] == "unhcr"
    assert claims["roles"] == ["focal_point"]
    assert set(claims["scope"].split()) == {"cases:read", "referrals:approve"}
    assert token["refresh_token"]
    response = await client.get("/v1/users", headers=bearer(token["access_token"]))
    assert response.status_code == 403, "a focal point is not an admin"


async def test_scopes_beyond_the_persons_roles_are_not_granted(
    app: FastAPI, client: httpx.AsyncClient, app_client, focal_point
) -> None:
    oauth, verifier, location = await _code_flow(
        app, client, app_client, focal_point, scope="cases:read users:write"
    )
    async with oauth:
        token = await oauth.fetch_token(
            TOKEN_URL, authorization_response=location, code_verifier=verifier
        )
    assert token["scope"] == "cases:read"


async def test_wrong_pkce_verifier_is_invalid_grant(
    app: FastAPI, client: httpx.AsyncClient, app_client, focal_point
) -> None:
    oauth, _verifier, location = await _code_flow(app, client, app_client, focal_point)
    async with oauth:
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(
                TOKEN_URL, authorization_response=location, code_verifier=generate_token(48)
            )
    assert refused.value.error == "invalid_grant"


async def test_a_code_works_once(
    app: FastAPI, client: httpx.AsyncClient, app_client, focal_point
) -> None:
    oauth, verifier, location = await _code_flow(app, client, app_client, focal_point)
    async with oauth:
        await oauth.fetch_token(TOKEN_URL, authorization_response=location, code_verifier=verifier)
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(
                TOKEN_URL, authorization_response=location, code_verifier=verifier
            )
    assert refused.value.error == "invalid_grant"


@pytest.mark.parametrize(
    ("params", "fault"),
    [
        ({}, "PKCE is required"),
        ({"code_challenge_method": "plain", "code_challenge": "x" * 43}, "S256"),
    ],
)
async def test_authorization_without_s256_pkce_is_refused(
    client: httpx.AsyncClient, app_client, focal_point, params, fault
) -> None:
    await sign_in(client, focal_point)
    response = await client.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": app_client.client_id,
            "redirect_uri": REDIRECT,
            "state": "s",
            **params,
        },
    )
    assert fault in response.headers.get("location", "") + response.text


async def test_unregistered_redirect_uri_is_not_followed(
    client: httpx.AsyncClient, app_client, focal_point
) -> None:
    await sign_in(client, focal_point)
    response = await client.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": app_client.client_id,
            "redirect_uri": "https://evil.example/cb",
            "state": "s",
            "code_challenge": create_s256_code_challenge(generate_token(48)),
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "evil.example" not in response.headers.get("location", "")


async def test_a_person_cannot_authorize_another_agencys_app(
    app: FastAPI, client: httpx.AsyncClient, app_client
) -> None:
    iom_person = await seed_user(app, "iom", "cw@iom.example", roles=["caseworker"])
    await sign_in(client, iom_person)
    response = await client.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": app_client.client_id,
            "redirect_uri": REDIRECT,
            "state": "s",
            "code_challenge": create_s256_code_challenge(generate_token(48)),
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "access_denied"


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(
    app: FastAPI, client: httpx.AsyncClient, app_client, focal_point
) -> None:
    oauth, verifier, location = await _code_flow(app, client, app_client, focal_point)
    async with oauth:
        first = await oauth.fetch_token(
            TOKEN_URL, authorization_response=location, code_verifier=verifier
        )
        second = await oauth.refresh_token(TOKEN_URL, refresh_token=first["refresh_token"])
        assert second["refresh_token"] != first["refresh_token"]
        introspector = await _introspector(app)
        before = await client.post(
            "/oauth/introspect", data={"token": second["access_token"]}, auth=introspector
        )
        assert before.json()["active"] is True
        with pytest.raises(OAuthError) as reused:
            await oauth.refresh_token(TOKEN_URL, refresh_token=first["refresh_token"])
        assert reused.value.error == "invalid_grant"
        # The thief's replay burned the whole family: the newest refresh token and every
        # access token issued under it stop working too.
        with pytest.raises(OAuthError):
            await oauth.refresh_token(TOKEN_URL, refresh_token=second["refresh_token"])
    after = await client.post(
        "/oauth/introspect", data={"token": second["access_token"]}, auth=introspector
    )
    assert after.json() == {"active": False}


async def _introspector(app: FastAPI) -> tuple[str, str]:
    resource_server = await seed_client(app, "unhcr", scopes=["cases:read"], roles=["auditor"])
    return resource_server.client_id, resource_server.client_secret or ""


async def test_login_page_refuses_a_post_without_csrf_token(
    client: httpx.AsyncClient, focal_point
) -> None:
    response = await client.post(
        "/console/login", data={"email": focal_point.email, "password": focal_point.password}
    )
    assert response.status_code == 403
    assert "accord_session" not in response.cookies


async def test_login_never_redirects_off_site(client: httpx.AsyncClient, focal_point) -> None:
    response = await sign_in(client, focal_point, "//evil.example/x")
    assert response.headers["location"] == "/console"
