"""Agency key material: signing and encryption keys and their public JWKs. Secrets at rest
(wrapping under the master key, data keys) are :mod:`contracts.at_rest`.

Three kinds of key, each valid from ``nbf`` (inclusive) to ``exp`` (exclusive):

- ``ed25519``: signs envelopes, receipts, agreements and directories (JWS ``EdDSA``, RFC 8037).
- ``hpke-x25519``: RFC 9180 HPKE recipient key, DHKEM(X25519, HKDF-SHA256) with HKDF-SHA256
  and AES-256-GCM; the default for sealed categories.
- ``hpke-mlkem768-x25519``: the post-quantum/traditional hybrid KEM MLKEM768-X25519 (KEM id
  0x647a, "X-Wing", draft-connolly-cfrg-xwing-kem and draft-ietf-hpke-pq) with HKDF-SHA256 and
  AES-256-GCM; for categories whose sensitivity outlives today's curves (DESIGN §4).

The value of an encryption kind is also the name of its HPKE suite, the same string an
agreement's ``encryption`` term carries, so ``KeyKind(agreement.encryption)`` is the key kind
that agreement asks for.

``kid`` is the RFC 7638 JWK thumbprint of the public key (SHA-256, base64url), so it is derived
from the key itself: two nodes can never publish different keys under one kid by accident, and
anyone can recompute it from the published JWK (:func:`jwk_thumbprint`).

Public JWKs
-----------
Ed25519 and X25519 keys are RFC 8037 OKP JWKs::

    {"kty": "OKP", "crv": "Ed25519", "x": ..., "kid": ..., "use": "sig", "alg": "EdDSA",
     "nbf": 1767225600, "exp": 1798761600}
    {"kty": "OKP", "crv": "X25519", "x": ..., "kid": ..., "use": "enc", "alg": "hpke-x25519",
     "nbf": ..., "exp": ...}

There is no final JOSE representation for the hybrid key yet. We follow the drafts the JOSE
working group converged on: the ``AKP`` (Algorithm Key Pair) key type of
draft-ietf-cose-dilithium, which draft-skokan-jose-hpke-pq-pqt uses for HPKE's PQ and PQ/T KEMs,
with ``pub`` the base64url of HPKE's ``SerializePublicKey`` for MLKEM768-X25519, i.e. the
ML-KEM-768 encapsulation key (1184 bytes) followed by the X25519 public key (32 bytes), 1216
bytes in all (draft-ietf-hpke-pq)::

    {"kty": "AKP", "alg": "hpke-mlkem768-x25519", "pub": ..., "kid": ..., "use": "enc",
     "nbf": ..., "exp": ...}

AKP requires ``alg``. draft-skokan-jose-hpke-pq-pqt registers ``HPKE-10`` only for this KEM
with the SHAKE256 KDF; our suite uses HKDF-SHA256, which has no registered name, so ``alg`` is
our suite name, unregistered but specific enough not to collide. The thumbprint members of
an AKP key are ``alg``, ``kty`` and ``pub`` (draft-ietf-cose-dilithium). ``nbf`` and ``exp`` are
NumericDate integers (RFC 7519 §2).

Private keys at rest
--------------------
:meth:`PrivateKey.to_bytes` gives the canonical JSON (RFC 8785) of the kind, kid, validity and
the private key in its standard raw form: the 32-byte RFC 8032 seed for Ed25519, the 32-byte
RFC 7748 scalar for X25519, and the 32-byte X-Wing seed for the hybrid (HPKE's
``SerializePrivateKey`` for MLKEM768-X25519). These bytes are secret: the services layer wraps
them with :func:`contracts.at_rest.wrap_secret` under the node master key before they touch
the database.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Final, TypeVar

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from contracts.canonical import b64url_decode, b64url_encode, canonical_bytes

__all__ = [
    "HpkePrivate",
    "HpkePublic",
    "InvalidKey",
    "KeyExpired",
    "KeyKind",
    "KeyNotYetValid",
    "KeyProblem",
    "NoUsableKey",
    "PrivateKey",
    "PublicKey",
    "UnknownKey",
    "UnwrapFailed",
    "WrongKeyUse",
    "current_key",
    "find_key",
    "generate_key",
    "jwk_thumbprint",
    "parse_public_jwk",
    "strict_b64url_decode",
    "usable_key",
]


class KeyKind(enum.StrEnum):
    """What a key is for. Encryption kinds are named after their HPKE suite."""

    ED25519 = "ed25519"
    X25519 = "hpke-x25519"
    MLKEM768_X25519 = "hpke-mlkem768-x25519"

    @property
    def use(self) -> str:
        """The JWK ``use`` (RFC 7517 §4.2): ``sig`` or ``enc``."""
        return "sig" if self is KeyKind.ED25519 else "enc"

    @property
    def is_post_quantum(self) -> bool:
        """True for the ML-KEM hybrid: secure if either ML-KEM-768 or X25519 holds."""
        return self is KeyKind.MLKEM768_X25519


HpkePublic = X25519PublicKey | hpke.MLKEM768X25519PublicKey
HpkePrivate = X25519PrivateKey | hpke.MLKEM768X25519PrivateKey

ED25519_ALG: Final = "EdDSA"
_OKP_CURVE: Final = {KeyKind.ED25519: "Ed25519", KeyKind.X25519: "X25519"}
_CURVE_KIND: Final = {curve: kind for kind, curve in _OKP_CURVE.items()}
_JWK_ALG: Final = {
    KeyKind.ED25519: ED25519_ALG,
    KeyKind.X25519: KeyKind.X25519.value,
    KeyKind.MLKEM768_X25519: KeyKind.MLKEM768_X25519.value,
}
# draft-ietf-hpke-pq: MLKEM768-X25519 Npk = 1184 (ML-KEM-768 ek) + 32 (X25519), Nsk = 32.
_MLKEM768_PUBLIC_BYTES: Final = 1184
_PUBLIC_BYTES: Final = {
    KeyKind.ED25519: 32,
    KeyKind.X25519: 32,
    KeyKind.MLKEM768_X25519: _MLKEM768_PUBLIC_BYTES + 32,
}
_SECRET_BYTES: Final = 32
_PRIVATE_FORMAT_VERSION: Final = 1
_PRIVATE_FORMAT_MEMBERS: Final = frozenset({"v", "kind", "kid", "nbf", "exp", "d"})
_PRIVATE_JWK_MEMBERS: Final = frozenset({"d", "priv", "p", "q", "dp", "dq", "qi", "k"})

_B64URL_TEXT: Final = re.compile(r"[A-Za-z0-9_-]*")


# --- errors ---------------------------------------------------------------------------------


class KeyProblem(Exception):
    """Base of every key-material error raised by this module."""


class InvalidKey(KeyProblem, ValueError):
    """Malformed key material: a JWK or serialised private key that does not parse."""


class UnknownKey(KeyProblem, LookupError):
    """No key with the requested kid."""


class WrongKeyUse(UnknownKey):
    """A key with that kid exists, but not of the kind or use asked for."""


class KeyExpired(KeyProblem):
    """The key's ``exp`` is at or before the time in question."""


class KeyNotYetValid(KeyProblem):
    """The key's ``nbf`` is after the time in question."""


class NoUsableKey(KeyProblem, LookupError):
    """No key of the requested kind is valid at the time in question (rotation overdue?)."""


class UnwrapFailed(KeyProblem):
    """AES-GCM refused the bytes: wrong key, wrong context, or the bytes were altered."""


# --- time -----------------------------------------------------------------------------------


def _require_aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def _numeric_date(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_numeric_date(value: object, member: str) -> datetime:
    # bool is an int subclass; True is not a date.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidKey(f"JWK member {member!r} must be an integer NumericDate (RFC 7519 §2)")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidKey(f"JWK member {member!r} is out of range") from exc


def _whole_seconds(moment: datetime, what: str) -> datetime:
    # Validity is published as NumericDate integers, so it is kept at that precision here too;
    # a key then compares equal to itself after a round trip through a JWK or storage.
    return _require_aware(moment, what).replace(microsecond=0)


# --- keys -----------------------------------------------------------------------------------


#: Kept under its old name for callers; the strict decoder now lives in contracts.canonical.
strict_b64url_decode = b64url_decode


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of a public JWK: our ``kid``.

    Required members: ``crv``, ``kty``, ``x`` for OKP (RFC 8037 §2); ``alg``, ``kty``, ``pub``
    for AKP (draft-ietf-cose-dilithium). RFC 7638's ordering and whitespace rules coincide with
    RFC 8785 for these string-only members.
    """
    kty = jwk.get("kty")
    if kty == "OKP":
        members = ("crv", "kty", "x")
    elif kty == "AKP":
        members = ("alg", "kty", "pub")
    else:
        raise InvalidKey(f"cannot take the thumbprint of kty {kty!r}")
    required = {name: jwk.get(name) for name in members}
    if not all(isinstance(value, str) for value in required.values()):
        raise InvalidKey(f"a {kty} JWK needs string members {', '.join(members)}")
    return b64url_encode(hashlib.sha256(canonical_bytes(required)).digest())


@dataclass(frozen=True)
class _KeyValidity:
    kind: KeyKind
    kid: str
    nbf: datetime
    exp: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", KeyKind(self.kind))
        object.__setattr__(self, "nbf", _whole_seconds(self.nbf, "nbf"))
        object.__setattr__(self, "exp", _whole_seconds(self.exp, "exp"))
        if not self.kid:
            raise InvalidKey("kid must not be empty")
        if self.exp <= self.nbf:
            raise InvalidKey(f"key {self.kid}: exp must be after nbf")

    @property
    def use(self) -> str:
        """``sig`` or ``enc``, as in the JWK."""
        return self.kind.use

    def usable_at(self, moment: datetime) -> bool:
        """True iff ``nbf <= moment < exp``."""
        moment = _require_aware(moment, "moment")
        return self.nbf <= moment < self.exp

    def check_usable_at(self, moment: datetime) -> None:
        """Raise :class:`KeyNotYetValid` or :class:`KeyExpired` unless usable at ``moment``."""
        moment = _require_aware(moment, "moment")
        if moment < self.nbf:
            raise KeyNotYetValid(
                f"key {self.kid} is not valid before {self.nbf.isoformat()} "
                f"(asked for {moment.isoformat()})"
            )
        if moment >= self.exp:
            raise KeyExpired(
                f"key {self.kid} expired at {self.exp.isoformat()} (asked for {moment.isoformat()})"
            )


@dataclass(frozen=True)
class PublicKey(_KeyValidity):
    """A public key as published in a member's JWK Set.

    ``raw`` is the key's standard public encoding: 32 bytes for Ed25519 and X25519, and for the
    hybrid the 1216-byte ML-KEM-768 encapsulation key followed by the X25519 public key.
    """

    raw: bytes = field(repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        expected = _PUBLIC_BYTES[self.kind]
        if len(self.raw) != expected:
            raise InvalidKey(f"a {self.kind} public key is {expected} bytes, not {len(self.raw)}")
        # Parse now so that a malformed key is refused on construction, not on first use.
        _ = self._key

    @cached_property
    def _key(self) -> Ed25519PublicKey | HpkePublic:
        try:
            if self.kind is KeyKind.ED25519:
                return Ed25519PublicKey.from_public_bytes(self.raw)
            if self.kind is KeyKind.X25519:
                return X25519PublicKey.from_public_bytes(self.raw)
            return hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(self.raw[:_MLKEM768_PUBLIC_BYTES]),
                X25519PublicKey.from_public_bytes(self.raw[_MLKEM768_PUBLIC_BYTES:]),
            )
        except ValueError as exc:
            raise InvalidKey(f"key {self.kid}: not a valid {self.kind} public key") from exc

    @property
    def verifier(self) -> Ed25519PublicKey:
        """The Ed25519 key, for signature verification."""
        key = self._key
        if not isinstance(key, Ed25519PublicKey):
            raise WrongKeyUse(f"key {self.kid} is a {self.kind} key, not a signing key")
        return key

    @property
    def hpke_public(self) -> HpkePublic:
        """The HPKE recipient public key, for sealing."""
        key = self._key
        if isinstance(key, Ed25519PublicKey):
            raise WrongKeyUse(f"key {self.kid} is a signing key, not an encryption key")
        return key

    def to_jwk(self) -> dict[str, Any]:
        """The public JWK this key is published as (see the module docstring)."""
        return _jwk_material(self.kind, self.raw) | {
            "kid": self.kid,
            "use": self.use,
            "nbf": _numeric_date(self.nbf),
            "exp": _numeric_date(self.exp),
        }


def _jwk_material(kind: KeyKind, raw: bytes) -> dict[str, Any]:
    """The members that say what the key is: what the RFC 7638 thumbprint is taken over."""
    if kind is KeyKind.MLKEM768_X25519:
        return {"kty": "AKP", "alg": _JWK_ALG[kind], "pub": b64url_encode(raw)}
    return {"kty": "OKP", "crv": _OKP_CURVE[kind], "x": b64url_encode(raw), "alg": _JWK_ALG[kind]}


@dataclass(frozen=True)
class PrivateKey(_KeyValidity):
    """A private key with its kid and validity; ``secret`` is its standard 32-byte raw form."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.secret) != _SECRET_BYTES:
            raise InvalidKey(f"a {self.kind} private key is {_SECRET_BYTES} bytes")
        _ = self._key

    @cached_property
    def _key(self) -> Ed25519PrivateKey | HpkePrivate:
        if self.kind is KeyKind.ED25519:
            return Ed25519PrivateKey.from_private_bytes(self.secret)
        if self.kind is KeyKind.X25519:
            return X25519PrivateKey.from_private_bytes(self.secret)
        mlkem_key, x25519_key = _expand_xwing_seed(self.secret)
        return hpke.MLKEM768X25519PrivateKey(mlkem_key, x25519_key)

    @cached_property
    def public(self) -> PublicKey:
        """The matching public key, with the same kid and validity."""
        raw = _public_raw(self.kind, self.secret)
        return PublicKey(kind=self.kind, kid=self.kid, nbf=self.nbf, exp=self.exp, raw=raw)

    @property
    def signer(self) -> Ed25519PrivateKey:
        """The Ed25519 key, for signing."""
        key = self._key
        if not isinstance(key, Ed25519PrivateKey):
            raise WrongKeyUse(f"key {self.kid} is a {self.kind} key, not a signing key")
        return key

    @property
    def hpke_private(self) -> HpkePrivate:
        """The HPKE recipient private key, for opening."""
        key = self._key
        if isinstance(key, Ed25519PrivateKey):
            raise WrongKeyUse(f"key {self.kid} is a signing key, not an encryption key")
        return key

    def to_bytes(self) -> bytes:
        """Serialise for storage. The result is secret: wrap it with :func:`wrap_secret`."""
        return canonical_bytes(
            {
                "v": _PRIVATE_FORMAT_VERSION,
                "kind": self.kind.value,
                "kid": self.kid,
                "nbf": _numeric_date(self.nbf),
                "exp": _numeric_date(self.exp),
                "d": b64url_encode(self.secret),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PrivateKey:
        """Inverse of :meth:`to_bytes`; raises :class:`InvalidKey` on anything else."""
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidKey("not a serialised private key") from exc
        if not isinstance(document, dict) or set(document) != _PRIVATE_FORMAT_MEMBERS:
            raise InvalidKey("not a serialised private key")
        if document["v"] != _PRIVATE_FORMAT_VERSION:
            raise InvalidKey(f"unsupported private key format version {document['v']!r}")
        try:
            kind = KeyKind(document["kind"])
            secret = strict_b64url_decode(document["d"], length=_SECRET_BYTES, what="d")
        except (ValueError, TypeError) as exc:
            raise InvalidKey(f"not a serialised private key: {exc}") from exc
        if not isinstance(document["kid"], str):
            raise InvalidKey("kid must be a string")
        return cls(
            kind=kind,
            kid=document["kid"],
            nbf=_from_numeric_date(document["nbf"], "nbf"),
            exp=_from_numeric_date(document["exp"], "exp"),
            secret=secret,
        )


def _expand_xwing_seed(seed: bytes) -> tuple[mlkem.MLKEM768PrivateKey, X25519PrivateKey]:
    # draft-connolly-cfrg-xwing-kem §5.2 expandDecapsulationKey, which draft-ietf-hpke-pq adopts
    # for MLKEM768-X25519: SHAKE256(seed, 96) = ML-KEM-768 d || z (64) || X25519 scalar (32).
    # cryptography only takes the two component keys, so the standard's 32-byte private key is
    # expanded here, as pyca/cryptography's own HPKE tests do.
    expanded = hashlib.shake_256(seed).digest(96)
    return (
        mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


def _public_raw(kind: KeyKind, secret: bytes) -> bytes:
    if kind is KeyKind.ED25519:
        return Ed25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    if kind is KeyKind.X25519:
        return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    mlkem_key, x25519_key = _expand_xwing_seed(secret)
    return mlkem_key.public_key().public_bytes_raw() + x25519_key.public_key().public_bytes_raw()


def generate_key(kind: KeyKind | str, *, nbf: datetime, exp: datetime) -> PrivateKey:
    """A fresh key of ``kind``, valid from ``nbf`` until ``exp``; its kid is its thumbprint."""
    kind = KeyKind(kind)
    # Every kind's private key is 32 uniformly random bytes: the Ed25519 seed (RFC 8032
    # §5.1.5), the X25519 scalar (RFC 7748 §5, clamped on use) or the X-Wing seed
    # (draft-connolly-cfrg-xwing-kem §5.1 GenerateKeyPair).
    secret = os.urandom(_SECRET_BYTES)
    kid = jwk_thumbprint(_jwk_material(kind, _public_raw(kind, secret)))
    return PrivateKey(kind=kind, kid=kid, nbf=nbf, exp=exp, secret=secret)


def parse_public_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """Parse one of our public JWKs (module docstring), refusing anything malformed.

    Refuses private members (a JWK Set we publish or accept must never carry ``d``), a ``use``
    or ``alg`` that contradicts the key type, missing or non-integer ``nbf``/``exp``, and key
    bytes of the wrong length or not canonically encoded. Unknown members are ignored
    (RFC 7517 §4).
    """
    if not isinstance(jwk, Mapping):
        raise InvalidKey("a JWK must be a JSON object")
    leaked = _PRIVATE_JWK_MEMBERS & set(jwk)
    if leaked:
        raise InvalidKey(f"a public JWK must not contain private members {sorted(leaked)}")
    kty = jwk.get("kty")
    kind: KeyKind
    member: str
    if kty == "OKP":
        crv = jwk.get("crv")
        if crv not in _CURVE_KIND:
            raise InvalidKey(f"unsupported OKP curve {crv!r}: expected Ed25519 or X25519")
        kind, member = _CURVE_KIND[crv], "x"
        if "alg" in jwk and jwk["alg"] != _JWK_ALG[kind]:
            raise InvalidKey(f"alg {jwk['alg']!r} does not fit a {crv} key")
    elif kty == "AKP":
        if jwk.get("alg") != _JWK_ALG[KeyKind.MLKEM768_X25519]:
            raise InvalidKey(f"unsupported AKP alg {jwk.get('alg')!r}")
        kind, member = KeyKind.MLKEM768_X25519, "pub"
    else:
        raise InvalidKey(f"unsupported kty {kty!r}: expected OKP or AKP")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidKey("a JWK needs a non-empty string kid")
    if jwk.get("use") != kind.use:
        raise InvalidKey(f"key {kid}: use must be {kind.use!r} for a {kind} key")
    encoded = jwk.get(member)
    if not isinstance(encoded, str):
        raise InvalidKey(f"key {kid}: missing {member!r}")
    try:
        raw = strict_b64url_decode(encoded, length=_PUBLIC_BYTES[kind], what=member)
    except ValueError as exc:
        raise InvalidKey(f"key {kid}: {exc}") from exc
    return PublicKey(
        kind=kind,
        kid=kid,
        nbf=_from_numeric_date(jwk.get("nbf"), "nbf"),
        exp=_from_numeric_date(jwk.get("exp"), "exp"),
        raw=raw,
    )


# --- choosing keys --------------------------------------------------------------------------

K = TypeVar("K", bound=_KeyValidity)


def find_key(keys: Iterable[K], kid: str) -> K:
    """The key with ``kid``, whatever its validity; raises :class:`UnknownKey`."""
    for key in keys:
        if key.kid == kid:
            return key
    raise UnknownKey(f"no key with kid {kid}")


def usable_key(
    keys: Iterable[K],
    kid: str,
    *,
    at: datetime,
    kind: KeyKind | None = None,
    use: str | None = None,
) -> K:
    """The key with ``kid``, checked to be of ``kind``/``use`` and valid at ``at``.

    Raises :class:`UnknownKey`, :class:`WrongKeyUse`, :class:`KeyNotYetValid` or
    :class:`KeyExpired`, so a refusal says which rule failed.
    """
    key = find_key(keys, kid)
    if kind is not None and key.kind is not kind:
        raise WrongKeyUse(f"key {kid} is a {key.kind} key, not {kind}")
    if use is not None and key.use != use:
        raise WrongKeyUse(f"key {kid} has use {key.use!r}, not {use!r}")
    key.check_usable_at(at)
    return key


def current_key(keys: Iterable[K], kind: KeyKind | str, *, at: datetime) -> K:
    """The key of ``kind`` to use at ``at``: of those valid then, the most recently activated.

    Rotation publishes a new key beside the old one (DESIGN §4); once the new key's ``nbf`` has
    passed it takes over, while the old one stays valid for verifying and opening.
    """
    kind = KeyKind(kind)
    candidates = [key for key in keys if key.kind is kind and key.usable_at(at)]
    if not candidates:
        raise NoUsableKey(f"no {kind} key is valid at {at.isoformat()}")
    return max(candidates, key=lambda key: (key.nbf, key.exp, key.kid))
