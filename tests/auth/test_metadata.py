"""The server metadata (RFC 8414) tells the truth about what this node supports."""

from __future__ import annotations

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from tests.support.identity import BASE_URL
from tests.support.markers import sqlite_only


@sqlite_only
async def test_metadata_is_valid_and_every_endpoint_exists(client, agencies) -> None:
    body = (await client.get("/.well-known/oauth-authorization-server")).json()
    AuthorizationServerMetadata(body).validate()
    assert body["issuer"] == BASE_URL
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert set(body["grant_types_supported"]) == {
        "authorization_code",
        "client_credentials",
        "refresh_token",
    }
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt"} <= set(
        body["token_endpoint_auth_methods_supported"]
    )
    for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        path = body[name].removeprefix(BASE_URL)
        response = await client.post(path, data={})
        assert response.status_code in (400, 401), (name, response.status_code)
    assert (await client.get(body["jwks_uri"].removeprefix(BASE_URL))).status_code == 200
    authorize = await client.get(body["authorization_endpoint"].removeprefix(BASE_URL))
    assert authorize.status_code == 303  # to sign in first


@sqlite_only
async def test_jwks_holds_public_okp_keys_only(client, agencies) -> None:
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "OKP"
        assert key["crv"] == "Ed25519"
        assert "d" not in key
