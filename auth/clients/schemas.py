from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema, model_validator

from auth.schemas import DataRoles, DisplayName, Roles, Scopes
from kit.http.schemas import Page, RequestModel, ResponseModel

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
GrantType = Literal["client_credentials", "authorization_code", "refresh_token"]

#: Declared as an RFC 7517 JWK Set, checked by :func:`client_config_faults` (public keys only,
#: at least one), whose messages say what is wrong rather than which JSON Schema keyword failed.
ClientJwks = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "description": "Public JWK Set (RFC 7517 §5) for private_key_jwt; no private members.",
            "properties": {
                "keys": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "kty": {"type": "string"},
                            "kid": {"type": "string"},
                            "use": {"type": "string"},
                            "alg": {"type": "string"},
                            "crv": {"type": "string"},
                            "x": {"type": "string"},
                            "n": {"type": "string"},
                            "e": {"type": "string"},
                        },
                        "required": ["kty"],
                    },
                }
            },
            "required": ["keys"],
        }
    ),
]


class ClientCreate(RequestModel):
    name: DisplayName
    scopes: Scopes = Field(min_length=1)
    roles: Roles = Field(min_length=1)
    data_roles: DataRoles = []
    token_endpoint_auth_method: AuthMethod = Field(
        "client_secret_basic",
        description="RFC 7591 name. A secret client may use both basic and post; "
        "private_key_jwt needs `jwks`; none is for public authorization-code clients (PKCE).",
    )
    grant_types: list[GrantType] = Field(["client_credentials"], min_length=1)
    redirect_uris: list[str] = []
    jwks: ClientJwks | None = Field(None, description="Public JWK Set for private_key_jwt.")

    @model_validator(mode="after")
    def _coherent(self) -> ClientCreate:
        faults = client_config_faults(
            self.token_endpoint_auth_method, self.grant_types, self.redirect_uris, self.jwks
        )
        if faults:
            raise ValueError("; ".join(faults))
        return self


def client_config_faults(
    method: str,
    grant_types: Sequence[str],
    redirect_uris: Sequence[str],
    jwks: dict[str, Any] | None,
) -> list[str]:
    faults = []
    if method == "private_key_jwt" and not jwks:
        faults.append("private_key_jwt needs `jwks`, the client's public JWK Set")
    if jwks is not None:
        keys = jwks.get("keys")
        if not isinstance(keys, list) or not keys:
            faults.append('`jwks` must be a JWK Set: {"keys": [...]}')
        elif any(not isinstance(k, dict) or "d" in k or "k" in k for k in keys):
            faults.append("`jwks` must hold public keys only (no `d` or `k` members)")
    if method == "none" and "client_credentials" in grant_types:
        faults.append("a public client (none) cannot use client_credentials")
    if "authorization_code" in grant_types:
        if not redirect_uris:
            faults.append("authorization_code needs at least one redirect URI")
        for uri in redirect_uris:
            if not (
                uri.startswith("https://")
                or uri.startswith(("http://127.0.0.1", "http://localhost"))
            ):
                faults.append(f"redirect URI {uri} must use https (or http on loopback)")
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        faults.append("refresh_token is only issued with authorization_code")
    return faults


class ClientPatch(RequestModel):
    name: DisplayName | None = None
    scopes: Scopes | None = Field(None, min_length=1)
    roles: Roles | None = Field(None, min_length=1)
    data_roles: DataRoles | None = None
    redirect_uris: list[str] | None = None
    jwks: ClientJwks | None = None
    disabled: bool | None = None
    rotate_secret: bool = Field(
        False, description="Issue a new secret, shown once; the old one stops working."
    )


class ClientOut(ResponseModel):
    id: uuid.UUID
    client_id: str
    agency: str
    name: str
    scopes: list[str]
    roles: list[str]
    data_roles: list[str]
    token_endpoint_auth_method: str
    grant_types: list[str]
    redirect_uris: list[str]
    has_jwks: bool
    disabled: bool
    created_at: datetime
    updated_at: datetime


class ClientWithSecret(ClientOut):
    client_secret: str | None = Field(None, description="Shown only in this response.")


class ClientPage(Page[ClientOut]):
    pass
