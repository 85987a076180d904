"""Only a genuine, current access token of an active account opens the API."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from auth.keys import TOKEN_ALG
from tests.support.identity import (
    BASE_URL,
    SeededClient,
    bearer,
    client_token,
    seed_client,
    seed_user,
)


async def _signing_key(app: FastAPI) -> tuple[str, Ed25519PrivateKey]:
    keys = await app.state.token_keys.current()
    private = keys.signing_key.private_key
    assert isinstance(private, Ed25519PrivateKey)
    return keys.signing_kid, private


def _claims(system: SeededClient, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": BASE_URL,
        "sub": system.client_id,
        "aud": BASE_URL,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "client_id": system.client_id,
        "scope": "users:read",
        "agency": "unhcr",
        "roles": ["admin"],
        "data_roles": [],
        "principal": "client",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)]
    )


async def _ours(app, system, **overrides) -> str:
    kid, key = await _signing_key(app)
    return pyjwt.encode(
        _claims(system, **overrides),
        key,
        algorithm="EdDSA",
        headers={"kid": kid, "typ": "at+jwt"},
    )


def _expect_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge


async def test_a_genuine_token_opens_the_api(app, client, unhcr_system) -> None:
    response = await client.get("/v1/users", headers=bearer(await _ours(app, unhcr_system)))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": int(time.time()) - 120}, id="expired"),
        pytest.param({"nbf": int(time.time()) + 3600}, id="not-yet-valid"),
        pytest.param({"iat": int(time.time()) + 3600}, id="issued-in-the-future"),
        pytest.param({"aud": "https://other-node.example"}, id="wrong-aud"),
        pytest.param({"iss": "https://other-node.example"}, id="wrong-iss"),
        pytest.param({"jti": None}, id="no-jti"),
    ],
)
async def test_token_with_bad_claims_is_401(app, client, unhcr_system, overrides) -> None:
    token = await _ours(app, unhcr_system, **overrides)
    _expect_invalid_token(await client.get("/v1/users", headers=bearer(token)))


async def test_alg_none_is_401(client, unhcr_system) -> None:
    token = _forge({"alg": "none", "typ": "at+jwt"}, _claims(unhcr_system))
    _expect_invalid_token(await client.get("/v1/users", headers=bearer(token)))


async def test_hs256_signed_with_the_public_key_is_401(app, client, unhcr_system) -> None:
    """The classic algorithm-confusion attack: HMAC keyed with the published public key."""
    import hashlib
    import hmac

    kid, key = await _signing_key(app)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    signing_input = ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(_claims(unhcr_system)).encode())]
    )
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    _expect_invalid_token(
        await client.get("/v1/users", headers=bearer(f"{signing_input}.{_b64(mac)}"))
    )


async def test_tampered_payload_is_401(app, client, unhcr_system) -> None:
    token = await _ours(app, unhcr_system, scope="cases:read")
    header, _, signature = token.split(".")
    tampered = _b64(json.dumps(_claims(unhcr_system, scope="users:read")).encode())
    _expect_invalid_token(
        await client.get("/v1/users", headers=bearer(f"{header}.{tampered}.{signature}"))
    )


async def test_unknown_kid_is_401(client, unhcr_system) -> None:
    stranger = Ed25519PrivateKey.generate()
    token = pyjwt.encode(
        _claims(unhcr_system),
        stranger,
        algorithm="EdDSA",
        headers={"kid": "tok-stranger", "typ": "at+jwt"},
    )
    _expect_invalid_token(await client.get("/v1/users", headers=bearer(token)))


async def test_an_id_token_is_not_an_access_token(app, client, unhcr_system) -> None:
    kid, key = await _signing_key(app)
    token = pyjwt.encode(
        _claims(unhcr_system), key, algorithm=TOKEN_ALG, headers={"kid": kid, "typ": "JWT"}
    )
    _expect_invalid_token(await client.get("/v1/users", headers=bearer(token)))


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "token abc"])
async def test_malformed_authorization_header_is_401(client, header) -> None:
    response = await client.get("/v1/users", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")


async def test_no_token_is_401_without_error_code(client, agencies) -> None:
    response = await client.get("/v1/users")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="accord"'


async def test_missing_scope_is_403_insufficient_scope(client, unhcr_system) -> None:
    token = await client_token(client, unhcr_system, scope="cases:read")
    response = await client.get("/v1/users", headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="users:read"' in response.headers["www-authenticate"]


async def test_missing_role_is_403(app, client, agencies) -> None:
    caseworker_system = await seed_client(app, "unhcr", roles=["caseworker"])
    token = await client_token(client, caseworker_system)
    response = await client.get("/v1/users", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["required_roles"] == ["admin"]


async def test_disabling_a_client_kills_its_tokens_at_once(app, client, unhcr_system) -> None:
    admin = await client_token(client, unhcr_system)
    victim = await seed_client(app, "unhcr")
    victim_token = await client_token(client, victim)
    assert (await client.get("/v1/users", headers=bearer(victim_token))).status_code == 200
    pk = await _client_pk(client, admin, victim.client_id)
    patched = await client.patch(
        f"/v1/clients/{pk}", json={"disabled": True}, headers=bearer(admin)
    )
    assert patched.status_code == 200
    _expect_invalid_token(await client.get("/v1/users", headers=bearer(victim_token)))
    refused = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(victim.client_id, victim.client_secret),
    )
    assert refused.json()["error"] == "invalid_client"


async def _client_pk(client, admin_token, client_id) -> str:
    listing = (await client.get("/v1/clients", headers=bearer(admin_token))).json()
    return next(c["id"] for c in listing["items"] if c["client_id"] == client_id)


async def test_removing_a_role_applies_on_the_next_request(app, client, unhcr_system) -> None:
    admin = await client_token(client, unhcr_system)
    system = await seed_client(app, "unhcr")
    token = await client_token(client, system)
    pk = await _client_pk(client, admin, system.client_id)
    await client.patch(f"/v1/clients/{pk}", json={"roles": ["caseworker"]}, headers=bearer(admin))
    assert (await client.get("/v1/users", headers=bearer(token))).status_code == 403


async def test_revoked_access_token_is_refused(client, unhcr_system) -> None:
    token = await client_token(client, unhcr_system)
    revoked = await client.post(
        "/oauth/revoke",
        data={"token": token, "token_type_hint": "access_token"},
        auth=(unhcr_system.client_id, unhcr_system.client_secret),
    )
    assert revoked.status_code == 200
    _expect_invalid_token(await client.get("/v1/users", headers=bearer(token)))


async def test_introspection_reports_active_tokens_of_the_same_agency_only(
    app, client, unhcr_system
) -> None:
    token = await client_token(client, unhcr_system)
    active = await client.post(
        "/oauth/introspect",
        data={"token": token},
        auth=(unhcr_system.client_id, unhcr_system.client_secret),
    )
    body = active.json()
    assert body["active"] is True
    assert body["client_id"] == unhcr_system.client_id
    assert body["agency"] == "unhcr"
    iom = await seed_client(app, "iom")
    other = await client.post(
        "/oauth/introspect", data={"token": token}, auth=(iom.client_id, iom.client_secret)
    )
    assert other.json() == {"active": False}


async def test_disabled_person_tokens_and_sessions_stop(app, client, unhcr_system) -> None:
    from tests.support.identity import sign_in

    admin = await client_token(client, unhcr_system)
    person = await seed_user(app, "unhcr", "cw@unhcr.example", roles=["caseworker"])
    await sign_in(client, person)
    patched = await client.patch(
        f"/v1/users/{person.id}", json={"disabled": True}, headers=bearer(admin)
    )
    assert patched.json()["disabled"] is True
    again = await sign_in(client, person)
    assert again.status_code == 401
