"""The OAuth endpoints' bodies, for the OpenAPI document.

The endpoints hand the raw request to authlib (RFC 6749 form posts) and answer with what it
returns, so these models only describe them; refusals are problems (``OAuthProblem``) whose
``error`` and ``error_description`` members carry the RFC 6749 §5.2 code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def _absent(value: object) -> bool:
    return value is None


class _ClientAuthentication(BaseModel):
    """Client authentication in the body (``client_secret_post``, ``private_key_jwt`` per
    RFC 7523, or a public client's ``client_id``); ``client_secret_basic`` uses the
    Authorization header instead."""

    # authlib ignores parameters it does not know, as RFC 6749 §3.2 asks.
    model_config = ConfigDict(extra="allow")

    client_id: str | None = None
    client_secret: str | None = None
    client_assertion_type: (
        Literal["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"] | None
    ) = None
    client_assertion: str | None = None


class TokenForm(_ClientAuthentication):
    grant_type: Literal["client_credentials", "authorization_code", "refresh_token"]
    scope: str | None = Field(None, description="Space-separated scopes (RFC 6749 §3.3).")
    code: str | None = Field(None, description="authorization_code: the code received.")
    redirect_uri: str | None = Field(None, description="authorization_code: as authorized.")
    code_verifier: str | None = Field(None, description="authorization_code: PKCE (RFC 7636).")
    refresh_token: str | None = Field(None, description="refresh_token: the token to use.")


class TokenRequestForm(_ClientAuthentication):
    """RFC 7009 and RFC 7662: the token to revoke or describe."""

    token: str
    token_type_hint: Literal["access_token", "refresh_token"] | None = None


class TokenResponse(BaseModel):
    """RFC 6749 §5.1; the access token is an RFC 9068 JWT."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    refresh_token: str | None = Field(
        None, exclude_if=_absent, description="Only to authorization-code clients."
    )


class Revoked(BaseModel):
    """RFC 7009 §2.2: an empty object, whether or not the token was valid."""

    model_config = ConfigDict(extra="forbid")


class Introspection(BaseModel):
    """RFC 7662 §2.2: ``{"active": false}`` alone for a token that is not active (or not the
    caller's agency's), else its claims."""

    active: bool
    token_type: str | None = Field(None, exclude_if=_absent)
    iss: str | None = Field(None, exclude_if=_absent)
    sub: str | None = Field(None, exclude_if=_absent)
    aud: str | list[str] | None = Field(None, exclude_if=_absent)
    exp: int | None = Field(None, exclude_if=_absent)
    iat: int | None = Field(None, exclude_if=_absent)
    jti: str | None = Field(None, exclude_if=_absent)
    client_id: str | None = Field(None, exclude_if=_absent)
    scope: str | None = Field(None, exclude_if=_absent)
    agency: str | None = Field(None, exclude_if=_absent)
    roles: list[str] | None = Field(None, exclude_if=_absent)


class ServerMetadata(BaseModel):
    """RFC 8414 §2 authorization server metadata."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    revocation_endpoint: str
    introspection_endpoint: str
    scopes_supported: list[str]
    response_types_supported: list[str]
    response_modes_supported: list[str]
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_signing_alg_values_supported: list[str]
    introspection_endpoint_auth_methods_supported: list[str]
    introspection_endpoint_auth_signing_alg_values_supported: list[str]
    code_challenge_methods_supported: list[str]
    authorization_response_iss_parameter_supported: bool
