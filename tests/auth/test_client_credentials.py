"""Agency systems obtain tokens with a standard OAuth client, by every client auth method."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt as pyjwt
import pytest
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from fastapi import FastAPI
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, OKPKey

from tests.auth.conftest import oauth_client
from tests.support.identity import (
    BASE_URL,
    TOKEN_URL,
    SeededClient,
    bearer,
    client_token,
    seed_client,
)


async def _verify_with_pyjwt(http: httpx.AsyncClient, token: str) -> dict:
    """An independent library, the served JWKS, and nothing of ours."""
    jwks = (await http.get("/.well-known/jwks.json")).json()
    header = pyjwt.get_unverified_header(token)
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    key = pyjwt.PyJWK(jwk)
    claims = pyjwt.decode(
        token,
        key=key,
        algorithms=["EdDSA"],
        audience=BASE_URL,
        issuer=BASE_URL,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )
    assert header["typ"] == "at+jwt"
    return claims


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_secret_client_gets_a_token_that_verifies_independently(
    app: FastAPI, client: httpx.AsyncClient, unhcr_system: SeededClient, method: str
) -> None:
    async with oauth_client(
        app,
        client_id=unhcr_system.client_id,
        client_secret=unhcr_system.client_secret,
        token_endpoint_auth_method=method,
    ) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 600
    assert "refresh_token" not in token
    claims = await _verify_with_pyjwt(client, token["access_token"])
    assert claims["client_id"] == unhcr_system.client_id
    assert claims["sub"] == unhcr_system.client_id
    assert claims["agency"] == "unhcr"
    assert set(claims["roles"]) == {"admin", "focal_point", "caseworker", "auditor"}
    assert "referrals:approve" in claims["scope"].split()
    assert claims["exp"] - claims["iat"] == 600


async def test_token_response_is_not_cached(client: httpx.AsyncClient, unhcr_system) -> None:
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(unhcr_system.client_id, unhcr_system.client_secret),
    )
    assert response.headers["cache-control"] == "no-store"


async def test_wrong_secret_is_invalid_client(client: httpx.AsyncClient, unhcr_system) -> None:
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(unhcr_system.client_id, "not-the-secret"),
    )
    assert response.status_code == 401
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert body["error"] == "invalid_client"
    assert body["type"] == "/problems/oauth-error"


async def test_requested_scope_narrows_the_token(client: httpx.AsyncClient, unhcr_system) -> None:
    token = await client_token(client, unhcr_system, scope="cases:read")
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert claims["scope"] == "cases:read"


async def test_scope_beyond_registration_is_invalid_scope(
    app: FastAPI, client: httpx.AsyncClient, agencies
) -> None:
    narrow = await seed_client(app, "unhcr", scopes=["cases:read"])
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "cases:read audit:read"},
        auth=(narrow.client_id, narrow.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "audit:read" in response.json()["error_description"]


def _key_client_config(public_jwk: dict) -> dict:
    return {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [public_jwk]}}


@pytest.mark.parametrize("kind", ["Ed25519", "P-256"])
async def test_private_key_jwt_client_gets_a_token(
    app: FastAPI, client: httpx.AsyncClient, agencies, kind: str
) -> None:
    if kind == "Ed25519":
        key = OKPKey.generate_key("Ed25519", parameters={"kid": "k1"})
        alg = "EdDSA"
    else:
        key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
        alg = "ES256"
    system = await seed_client(app, "unhcr", **_key_client_config(key.as_dict(private=False)))
    async with oauth_client(
        app,
        client_id=system.client_id,
        client_secret=key,
        token_endpoint_auth_method=PrivateKeyJWT(TOKEN_URL, alg=alg),
    ) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    claims = await _verify_with_pyjwt(client, token["access_token"])
    assert claims["client_id"] == system.client_id


def _assertion(client_id: str, key, alg: str, jti: str | None = None, lifetime: int = 60) -> str:
    now = int(time.time())
    return jose_jwt.encode(
        {"alg": alg, "kid": "k1"},
        {
            "iss": client_id,
            "sub": client_id,
            "aud": TOKEN_URL,
            "iat": now,
            "exp": now + lifetime,
            "jti": jti or uuid.uuid4().hex,
        },
        key,
        algorithms=[alg],
    )


async def _fetch_with_own_assertion(http, system, key, alg, jti=None, lifetime=60):
    response = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": system.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": _assertion(system.client_id, key, alg, jti, lifetime),
        },
    )
    return response.json() if response.status_code == 200 else response


async def test_reused_client_assertion_is_refused(
    app: FastAPI, client: httpx.AsyncClient, agencies
) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    system = await seed_client(app, "unhcr", **_key_client_config(key.as_dict(private=False)))
    first = await _fetch_with_own_assertion(client, system, key, "ES256", jti="once")
    assert "access_token" in first
    again = await _fetch_with_own_assertion(client, system, key, "ES256", jti="once")
    assert again.status_code in (400, 401)  # RFC 6749 §5.2: 401 only with an auth header
    assert again.json()["error"] == "invalid_client"


async def test_long_lived_client_assertion_is_refused(
    app: FastAPI, client: httpx.AsyncClient, agencies
) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    system = await seed_client(app, "unhcr", **_key_client_config(key.as_dict(private=False)))
    response = await _fetch_with_own_assertion(client, system, key, "ES256", lifetime=7200)
    assert response.json()["error"] == "invalid_client"


async def test_assertion_signed_by_another_key_is_refused(
    app: FastAPI, client: httpx.AsyncClient, agencies
) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    impostor = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    system = await seed_client(app, "unhcr", **_key_client_config(key.as_dict(private=False)))
    response = await _fetch_with_own_assertion(client, system, impostor, "ES256")
    assert response.json()["error"] == "invalid_client"


async def test_secret_client_cannot_use_private_key_jwt(
    client: httpx.AsyncClient, unhcr_system
) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    response = await _fetch_with_own_assertion(client, unhcr_system, key, "ES256")
    assert response.json()["error"] == "invalid_client"


async def test_api_call_with_client_token(client: httpx.AsyncClient, unhcr_system) -> None:
    token = await client_token(client, unhcr_system)
    response = await client.get("/v1/users", headers=bearer(token))
    assert response.status_code == 200
