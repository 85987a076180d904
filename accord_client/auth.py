"""Getting and keeping an access token for an agency system (DESIGN §3).

Two ways to authenticate at ``POST /oauth/token`` with the ``client_credentials`` grant:
a client secret (HTTP Basic, ``client_secret_basic``), or ``private_key_jwt`` (RFC 7523 §2.2):
a short-lived JWT assertion signed with the client's own Ed25519 key, whose public JWK the
agency's admin registered with the client. The token is cached and fetched anew shortly
before it expires (or at once when a node answers 401 to it).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import OKPKey

from .errors import problem_from

#: Refresh this long before ``expires_in`` runs out, so no request leaves with a dying token.
REFRESH_MARGIN_SECONDS = 30.0
#: RFC 7523 assertions are single-use (the node remembers each ``jti``) and short-lived.
ASSERTION_LIFETIME_SECONDS = 60


class Credentials:
    """How a client proves who it is at the token endpoint."""

    client_id: str

    def token_request(self, token_url: str) -> dict[str, Any]:
        """The keyword arguments of the ``httpx`` POST to ``token_url`` (``data``, ``auth``)."""
        raise NotImplementedError


@dataclass(frozen=True)
class ClientSecret(Credentials):
    """``client_secret_basic``: the id and secret ``accord init`` or ``POST /v1/clients``
    printed."""

    client_id: str
    client_secret: str = field(repr=False)

    def token_request(self, token_url: str) -> dict[str, Any]:  # noqa: ARG002 - no audience
        return {"auth": (self.client_id, self.client_secret)}


@dataclass(frozen=True)
class PrivateKeyJwt(Credentials):
    """``private_key_jwt``: an Ed25519 private JWK (``{"kty": "OKP", "crv": "Ed25519", "d",
    "x", "kid"}``); the client registered with ``token_endpoint_auth_method:
    private_key_jwt`` and ``jwks: {"keys": [<the public part>]}``."""

    client_id: str
    private_jwk: dict[str, Any] = field(repr=False)
    clock: Callable[[], float] = time.time

    @classmethod
    def generate(cls, client_id: str = "", kid: str | None = None) -> PrivateKeyJwt:
        """A new key pair; register ``public_jwk`` with the client, keep the rest secret."""
        key = OKPKey.generate_key("Ed25519", parameters={"kid": kid or uuid.uuid4().hex})
        return cls(client_id=client_id, private_jwk=key.as_dict(private=True))

    @property
    def public_jwk(self) -> dict[str, Any]:
        return {k: v for k, v in self.private_jwk.items() if k != "d"}

    def assertion(self, token_url: str) -> str:
        now = int(self.clock())
        key = OKPKey.import_key(self.private_jwk)
        header = {"alg": "EdDSA", "typ": "JWT"}
        if "kid" in self.private_jwk:
            header["kid"] = self.private_jwk["kid"]
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
            "jti": uuid.uuid4().hex,
        }
        # joserfc warns that RFC 9864 deprecates "EdDSA"; the node accepts it (DESIGN §3).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jwt.encode(header, claims, key, algorithms=["EdDSA"])

    def token_request(self, token_url: str) -> dict[str, Any]:
        return {
            "data": {
                "client_id": self.client_id,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self.assertion(token_url),
            }
        }


@dataclass
class Token:
    access_token: str
    expires_at: float
    scope: str


class TokenSource:
    """One cached access token, fetched again before it expires. Safe to share between the
    concurrent requests of one event loop: only one of them fetches."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: Credentials,
        *,
        scope: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        margin: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self.http = http
        self.token_url = f"{base_url.rstrip('/')}/oauth/token"
        self.credentials = credentials
        self.scope = scope
        self.clock = clock
        self.margin = margin
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        #: How many tokens this source fetched (observability and tests).
        self.fetched = 0

    @property
    def expires_at(self) -> float | None:
        """When the cached token expires, on this source's clock (``None``: none cached)."""
        return self._token.expires_at if self._token is not None else None

    async def bearer(self) -> str:
        async with self._lock:
            token = self._token
            if token is None or self.clock() >= token.expires_at - self.margin:
                token = self._token = await self._fetch()
            return token.access_token

    def invalidate(self, access_token: str) -> None:
        """The node refused this token: forget it, unless another request already has."""
        if self._token is not None and self._token.access_token == access_token:
            self._token = None

    async def _fetch(self) -> Token:
        request = self.credentials.token_request(self.token_url)
        data = {"grant_type": "client_credentials", **request.pop("data", {})}
        if self.scope:
            data["scope"] = self.scope
        response = await self.http.post(self.token_url, data=data, **request)
        if response.status_code != 200:
            raise problem_from(response)
        body = response.json()
        self.fetched += 1
        return Token(
            access_token=str(body["access_token"]),
            expires_at=self.clock() + float(body.get("expires_in", 300)),
            scope=str(body.get("scope", "")),
        )


def load_private_jwk(text: str) -> dict[str, Any]:
    """A private JWK from its JSON text (a file's contents or an environment variable)."""
    jwk: dict[str, Any] = json.loads(text)
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" not in jwk:
        raise ValueError("expected a private Ed25519 JWK (kty OKP, crv Ed25519, with d)")
    return jwk
