"""Agency keys: generation, JWKs, validity, rotation, and secrets at rest."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts.canonical import b64url_decode, b64url_encode
from contracts.keys import (
    InvalidKey,
    KeyExpired,
    KeyKind,
    KeyNotYetValid,
    NoUsableKey,
    PrivateKey,
    UnknownKey,
    WrongKeyUse,
    current_key,
    find_key,
    generate_key,
    jwk_thumbprint,
    parse_public_jwk,
    strict_b64url_decode,
    usable_key,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


def key(kind: KeyKind, nbf: datetime = T0, exp: datetime = T0 + YEAR) -> PrivateKey:
    return generate_key(kind, nbf=nbf, exp=exp)


# --- generation and serialisation -----------------------------------------------------------


@pytest.mark.parametrize("kind", list(KeyKind))
def test_private_key_survives_storage_bytes(kind: KeyKind) -> None:
    original = key(kind)

    restored = PrivateKey.from_bytes(original.to_bytes())

    assert restored == original
    assert restored.public == original.public


@pytest.mark.parametrize("kind", list(KeyKind))
def test_public_jwk_parses_back_to_the_same_key(kind: KeyKind) -> None:
    public = key(kind).public

    assert parse_public_jwk(public.to_jwk()) == public
    assert parse_public_jwk(json.loads(json.dumps(public.to_jwk()))) == public


@pytest.mark.parametrize("kind", list(KeyKind))
def test_kid_is_the_rfc7638_thumbprint_of_the_public_jwk(kind: KeyKind) -> None:
    private = key(kind)

    assert private.kid == jwk_thumbprint(private.public.to_jwk())


def test_thumbprint_matches_rfc8037_appendix_a3() -> None:
    # RFC 8037 A.3: the thumbprint of the Ed25519 key of A.2.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}

    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_ed25519_jwk_is_an_rfc8037_signing_key_with_numeric_dates() -> None:
    private = key(KeyKind.ED25519)

    jwk = private.public.to_jwk()

    assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg", "nbf", "exp"}
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
    assert jwk["nbf"] == int(T0.timestamp())
    assert jwk["exp"] == int((T0 + YEAR).timestamp())
    assert len(b64url_decode(jwk["x"])) == 32


def test_x25519_jwk_is_an_rfc8037_encryption_key() -> None:
    jwk = key(KeyKind.X25519).public.to_jwk()

    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == (
        "OKP",
        "X25519",
        "enc",
        "hpke-x25519",
    )
    assert "d" not in jwk


def test_hybrid_jwk_is_an_akp_key_holding_both_public_keys() -> None:
    jwk = key(KeyKind.MLKEM768_X25519).public.to_jwk()

    assert set(jwk) == {"kty", "alg", "pub", "kid", "use", "nbf", "exp"}
    assert (jwk["kty"], jwk["alg"], jwk["use"]) == ("AKP", "hpke-mlkem768-x25519", "enc")
    assert len(b64url_decode(jwk["pub"])) == 1184 + 32
    assert "priv" not in jwk


def test_hybrid_key_expansion_matches_the_xwing_test_vector() -> None:
    # draft-connolly-cfrg-xwing-kem test vector 1 (also the seed of the JOSE AKP example of
    # @hpke/hybridkem-x-wing): the private key is this seed, the public key pk_M || pk_X.
    seed = bytes.fromhex("7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26")
    private = PrivateKey(
        kind=KeyKind.MLKEM768_X25519, kid="vector", nbf=T0, exp=T0 + YEAR, secret=seed
    )

    public = private.public.raw

    assert public[:16].hex() == "e2236b35a8c24b39b10aa1323a96a919"
    assert hashlib.sha256(public).hexdigest() == (
        "2e816deebcd76c5c80d0cd2d174478871658e8e2ff42bc9d4a6e486372e856bb"
    )


def test_hybrid_public_key_from_jwk_encrypts_to_the_private_key() -> None:
    private = key(KeyKind.MLKEM768_X25519)
    public = parse_public_jwk(private.public.to_jwk())
    suite = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)

    sealed = suite.encrypt(b"hello", public.hpke_public, info=b"test")

    assert suite.decrypt(sealed, private.hpke_private, info=b"test") == b"hello"


def test_hybrid_key_is_built_from_components_cryptography_accepts() -> None:
    # The component serialisations the hybrid is made of round-trip through cryptography.
    private = key(KeyKind.MLKEM768_X25519)
    raw = private.public.raw

    mlkem_public = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:1184])

    assert mlkem_public.public_bytes_raw() == raw[:1184]


def test_private_key_repr_does_not_show_the_secret() -> None:
    private = key(KeyKind.X25519)

    assert private.secret.hex() not in repr(private)
    assert b64url_encode(private.secret) not in repr(private)


def test_validity_is_kept_at_whole_seconds() -> None:
    private = generate_key(KeyKind.ED25519, nbf=T0 + timedelta(microseconds=7), exp=T0 + YEAR)

    assert private.nbf == T0
    assert PrivateKey.from_bytes(private.to_bytes()) == private


def test_naive_validity_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_key(KeyKind.ED25519, nbf=datetime(2026, 1, 1), exp=T0 + YEAR)


def test_key_that_expires_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidKey):
        generate_key(KeyKind.ED25519, nbf=T0, exp=T0)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'{"v":1}',
        b'{"d":"AAAA","exp":2,"kid":"k","kind":"ed25519","nbf":1,"v":2}',
        b'{"d":"AAAA","exp":2,"kid":"k","kind":"rsa","nbf":1,"v":1}',
        b'{"d":"AAAA","exp":2,"kid":"k","kind":"ed25519","nbf":1,"v":1}',
    ],
)
def test_garbage_is_not_a_private_key(data: bytes) -> None:
    with pytest.raises(InvalidKey):
        PrivateKey.from_bytes(data)


# --- parsing public JWKs --------------------------------------------------------------------


def _good_jwks() -> dict[str, dict[str, Any]]:
    return {kind.value: key(kind).public.to_jwk() for kind in KeyKind}


def _flip_last_char(text: str) -> str:
    # Same decoded bytes, non-canonical spelling: the low bits of the last character are unused.
    last = text[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return text[:-1] + alphabet[alphabet.index(last) + 1]


def _shorter(encoded: str) -> str:
    return b64url_encode(b64url_decode(encoded)[:-1])


MALFORMED = [
    ("ed25519", lambda j: {k: v for k, v in j.items() if k != "kid"}, "kid"),
    ("ed25519", lambda j: j | {"kid": ""}, "kid"),
    ("ed25519", lambda j: j | {"use": "enc"}, "use"),
    ("ed25519", lambda j: j | {"alg": "ES256"}, "alg"),
    ("ed25519", lambda j: j | {"crv": "P-256"}, "curve"),
    ("ed25519", lambda j: j | {"kty": "EC"}, "kty"),
    ("ed25519", lambda j: j | {"d": j["x"]}, "private"),
    ("ed25519", lambda j: {k: v for k, v in j.items() if k != "nbf"}, "nbf"),
    ("ed25519", lambda j: j | {"nbf": "2026-05-01T12:00:00Z"}, "nbf"),
    ("ed25519", lambda j: j | {"exp": float(j["exp"])}, "exp"),
    ("ed25519", lambda j: j | {"exp": True}, "exp"),
    ("ed25519", lambda j: j | {"exp": j["nbf"]}, "exp"),
    ("ed25519", lambda j: j | {"x": _shorter(j["x"])}, "32 bytes"),
    ("ed25519", lambda j: j | {"x": j["x"] + "="}, "base64url"),
    ("ed25519", lambda j: j | {"x": 42}, "missing"),
    ("hpke-x25519", lambda j: j | {"use": "sig"}, "use"),
    ("hpke-x25519", lambda j: j | {"alg": "hpke-mlkem768-x25519"}, "alg"),
    ("hpke-mlkem768-x25519", lambda j: j | {"alg": "HPKE-10"}, "alg"),
    ("hpke-mlkem768-x25519", lambda j: {k: v for k, v in j.items() if k != "alg"}, "alg"),
    ("hpke-mlkem768-x25519", lambda j: j | {"priv": "AAAA"}, "private"),
    ("hpke-mlkem768-x25519", lambda j: j | {"pub": _shorter(j["pub"])}, "1216 bytes"),
]


@pytest.mark.parametrize(("kind", "spoil", "hint"), MALFORMED)
def test_malformed_public_jwk_is_refused_with_a_value_error(
    kind: str, spoil: Any, hint: str
) -> None:
    jwk = spoil(_good_jwks()[kind])

    with pytest.raises(InvalidKey, match=hint) as refused:
        parse_public_jwk(jwk)

    assert isinstance(refused.value, ValueError)


def test_non_canonical_base64url_key_bytes_are_refused() -> None:
    jwk = key(KeyKind.ED25519).public.to_jwk()
    spelled_differently = _flip_last_char(jwk["x"])
    assert base64.urlsafe_b64decode(spelled_differently + "=") == b64url_decode(jwk["x"])

    with pytest.raises(InvalidKey, match="canonical"):
        parse_public_jwk(jwk | {"x": spelled_differently})


def test_a_jwk_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidKey):
        parse_public_jwk(["not", "a", "jwk"])  # type: ignore[arg-type]


def test_unknown_jwk_members_are_ignored() -> None:
    jwk = key(KeyKind.X25519).public.to_jwk()

    assert parse_public_jwk(jwk | {"x5u": "https://example.org", "key_ops": ["deriveBits"]})


def test_x25519_jwk_without_alg_is_accepted() -> None:
    jwk = key(KeyKind.X25519).public.to_jwk()
    del jwk["alg"]

    assert parse_public_jwk(jwk).kind is KeyKind.X25519


def test_strict_base64url_refuses_padding_and_wrong_length() -> None:
    assert strict_b64url_decode("AAAA", length=3) == b"\x00\x00\x00"
    with pytest.raises(ValueError, match="base64url"):
        strict_b64url_decode("AA==")
    with pytest.raises(ValueError, match="3 bytes"):
        strict_b64url_decode("AAAAAA", length=3)


# --- validity and rotation ------------------------------------------------------------------


def test_key_is_usable_from_nbf_inclusive_until_exp_exclusive() -> None:
    public = key(KeyKind.ED25519).public

    assert not public.usable_at(T0 - timedelta(seconds=1))
    assert public.usable_at(T0)
    assert public.usable_at(T0 + YEAR - timedelta(seconds=1))
    assert not public.usable_at(T0 + YEAR)


def test_usability_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        key(KeyKind.ED25519).usable_at(datetime(2026, 6, 1))


def test_current_key_is_the_most_recently_activated_valid_key() -> None:
    old = key(KeyKind.X25519, nbf=T0, exp=T0 + YEAR)
    new = key(KeyKind.X25519, nbf=T0 + timedelta(days=300), exp=T0 + 2 * YEAR)
    signing = key(KeyKind.ED25519, nbf=T0 + timedelta(days=350), exp=T0 + 2 * YEAR)
    keys = [old.public, new.public, signing.public]

    assert current_key(keys, KeyKind.X25519, at=T0 + timedelta(days=10)) == old.public
    assert current_key(keys, KeyKind.X25519, at=T0 + timedelta(days=301)) == new.public
    assert current_key(keys, "hpke-x25519", at=T0 + YEAR) == new.public


def test_current_key_refuses_when_no_key_of_the_kind_is_valid() -> None:
    keys = [key(KeyKind.X25519).public]

    with pytest.raises(NoUsableKey):
        current_key(keys, KeyKind.MLKEM768_X25519, at=T0)
    with pytest.raises(NoUsableKey):
        current_key(keys, KeyKind.X25519, at=T0 + 2 * YEAR)


def test_usable_key_says_which_rule_refused() -> None:
    signing = key(KeyKind.ED25519).public
    encryption = key(KeyKind.X25519).public
    keys = [signing, encryption]

    assert usable_key(keys, signing.kid, at=T0, use="sig") == signing
    assert find_key(keys, encryption.kid) == encryption
    with pytest.raises(UnknownKey):
        usable_key(keys, "no-such-kid", at=T0)
    with pytest.raises(WrongKeyUse):
        usable_key(keys, encryption.kid, at=T0, use="sig")
    with pytest.raises(WrongKeyUse):
        usable_key(keys, encryption.kid, at=T0, kind=KeyKind.MLKEM768_X25519)
    with pytest.raises(KeyNotYetValid):
        usable_key(keys, signing.kid, at=T0 - timedelta(seconds=1))
    with pytest.raises(KeyExpired):
        usable_key(keys, signing.kid, at=T0 + YEAR)


def test_a_signing_key_cannot_be_used_for_encryption_and_vice_versa() -> None:
    with pytest.raises(WrongKeyUse):
        _ = key(KeyKind.ED25519).public.hpke_public
    with pytest.raises(WrongKeyUse):
        _ = key(KeyKind.X25519).signer
    with pytest.raises(WrongKeyUse):
        _ = key(KeyKind.MLKEM768_X25519).public.verifier


def test_x25519_secret_is_the_raw_scalar() -> None:
    private = key(KeyKind.X25519)

    rebuilt = X25519PrivateKey.from_private_bytes(private.secret).public_key()

    assert (
        base64.urlsafe_b64encode(rebuilt.public_bytes_raw()).rstrip(b"=").decode()
        == (private.public.to_jwk()["x"])
    )
