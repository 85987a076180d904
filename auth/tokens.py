"""RFC 9068 JWT access tokens: issued by the token endpoint, verified on every API call."""

from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .keys import TOKEN_ALG, TokenKeys

#: Clock skew tolerated between the node and itself across workers; tokens live 10 minutes.
LEEWAY_SECONDS = 30
_REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "agency", "roles")


class InvalidToken(Exception):
    """The token cannot be trusted; ``description`` is safe to show the caller."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class AccessClaims:
    issuer: str
    subject: str
    audience: str
    expires_at: int
    issued_at: int
    token_id: str
    client_id: str
    scopes: frozenset[str]
    agency: str
    roles: frozenset[str]
    data_roles: frozenset[str]
    kind: str
    family: str | None

    def as_introspection(self) -> dict[str, Any]:
        """RFC 7662 §2.2 members, plus ours; nothing personal beyond the subject id."""
        return {
            "active": True,
            "token_type": "Bearer",
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience,
            "exp": self.expires_at,
            "iat": self.issued_at,
            "jti": self.token_id,
            "client_id": self.client_id,
            "scope": " ".join(sorted(self.scopes)),
            "agency": self.agency,
            "roles": sorted(self.roles),
        }


def issue_access_token(
    keys: TokenKeys,
    *,
    issuer: str,
    subject: str,
    client_id: str,
    scopes: list[str],
    agency: str,
    roles: list[str],
    data_roles: list[str],
    kind: str,
    token_id: str,
    ttl_seconds: int,
    family: str | None = None,
    now: int | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": issuer,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": token_id,
        "client_id": client_id,
        "scope": " ".join(scopes),
        "agency": agency,
        "roles": sorted(roles),
        "data_roles": sorted(data_roles),
        "principal": kind,
    }
    if family is not None:
        claims["fam"] = family
    header = {"alg": TOKEN_ALG, "typ": "at+jwt", "kid": keys.signing_kid}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc flags EdDSA (RFC 9864); DESIGN §3 keeps it
        return jwt.encode(header, claims, keys.signing_key, algorithms=[TOKEN_ALG])


def unverified_kid(token: str) -> str | None:
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError):
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def verify_access_token(
    verification: KeySet, token: str, *, issuer: str, now: int | None = None
) -> AccessClaims:
    """Check signature, algorithm, type, issuer, audience and lifetime; return the claims.

    Only EdDSA is accepted, so ``alg: none`` and an HS256 token "signed" with our public key
    fail before any claim is read.
    """
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError) as exc:
        raise InvalidToken("The access token is not a compact JWS.") from exc
    if header.get("alg") != TOKEN_ALG:
        raise InvalidToken(f"Access tokens must be signed with {TOKEN_ALG}.")
    if str(header.get("typ", "")).lower() not in {"at+jwt", "application/at+jwt"}:
        raise InvalidToken("The token is not an access token (typ must be at+jwt).")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _has_kid(verification, kid):
        raise InvalidToken("The token was signed by a key this node does not know.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decoded = jwt.decode(token, verification, algorithms=[TOKEN_ALG])
    except (JoseError, ValueError) as exc:
        raise InvalidToken("The access token signature does not verify.") from exc
    claims = decoded.claims
    missing = [name for name in _REQUIRED if name not in claims]
    if missing:
        raise InvalidToken(f"The access token lacks the claims {', '.join(missing)}.")
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": issuer},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise InvalidToken(_claim_problem(exc)) from exc
    return AccessClaims(
        issuer=claims["iss"],
        subject=str(claims["sub"]),
        audience=issuer,
        expires_at=int(claims["exp"]),
        issued_at=int(claims["iat"]),
        token_id=str(claims["jti"]),
        client_id=str(claims["client_id"]),
        scopes=frozenset(str(claims["scope"]).split()),
        agency=str(claims["agency"]),
        roles=frozenset(claims.get("roles") or []),
        data_roles=frozenset(claims.get("data_roles") or []),
        kind=str(claims.get("principal", "client")),
        family=claims.get("fam"),
    )


class VerifiedTokens:
    """Access tokens that verified, until they expire: a bounded LRU keyed by the whole token.

    A client sends one token with every call for its 10 minutes, and checking its EdDSA
    signature and claims again each time costs ≈ 120 µs (≈ 8,200 verifications/s per core,
    issue 19). Keyed by the token itself, not by its ``jti``: only the exact bytes that verified
    are let through, so a forged token reusing a jti gains nothing. Revocation and disabled
    accounts are not cached here: they are read from the database on every call. One cache per
    loaded key set (``TokenKeys``), so a reload of the keys starts it afresh.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._claims: OrderedDict[str, AccessClaims] = OrderedDict()

    def get(self, token: str, now: float | None = None) -> AccessClaims | None:
        claims = self._claims.get(token)
        if claims is None:
            return None
        # The leeway ``verify_access_token`` gives ``exp``.
        if claims.expires_at < (time.time() if now is None else now) - LEEWAY_SECONDS:
            del self._claims[token]
            return None
        self._claims.move_to_end(token)
        return claims

    def put(self, token: str, claims: AccessClaims) -> None:
        self._claims[token] = claims
        self._claims.move_to_end(token)
        while len(self._claims) > self.size:
            self._claims.popitem(last=False)


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


def _claim_problem(exc: JoseError) -> str:
    text = str(exc)
    for needle, description in (
        ("expired", "The access token has expired."),
        ("not yet valid", "The access token is not valid yet."),
        ("future", "The access token was issued in the future."),
        ("'iss'", "The access token was issued by another server."),
        ("'aud'", "The access token is meant for another audience."),
    ):
        if needle in text:
            return description
    return "The access token claims are invalid."


def unverified_subject(assertion: str) -> str | None:
    """The ``sub`` a client assertion claims, read before verification, for throttling only."""
    import json

    try:
        payload = json.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError):
        return None
    sub = payload.get("sub") if isinstance(payload, dict) else None
    return sub if isinstance(sub, str) else None
