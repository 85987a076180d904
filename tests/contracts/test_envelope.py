"""The sealed, signed envelope: round trips, tampering, binding, interop, receipts, freshness."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey

from contracts.canonical import b64url_decode, b64url_encode, canonical_bytes, sha256_hex
from contracts.envelope import (
    AgreementRef,
    BadSignature,
    CategoryNotSealed,
    ClockSkew,
    DigestMismatch,
    Envelope,
    EnvelopeError,
    EnvelopeEvidence,
    EnvelopeHeader,
    ErasureReceipt,
    HeaderKids,
    MessageExpired,
    OpenFailed,
    RefusalReason,
    SignedReceipt,
    SignerMismatch,
    WeakSuite,
    check_fresh,
    delivery_receipt,
    encryption_kids,
    envelope_digest,
    header_digest,
    is_fresh,
    new_message_id,
    open_categories,
    open_category,
    refusal_receipt,
    required_kind,
    seal,
    seal_and_sign,
    sign,
    sign_json,
    sign_receipt,
    signed_content,
    verify,
    verify_receipt,
)
from contracts.keys import KeyExpired, KeyKind, KeyProblem, PrivateKey, UnknownKey, generate_key

SENT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LIFE = {"nbf": SENT - timedelta(days=30), "exp": SENT + timedelta(days=365)}
PQ = "hpke-mlkem768-x25519"


@dataclass(frozen=True)
class Parties:
    sender: PrivateKey
    other_sender: PrivateKey
    recipient_x25519: PrivateKey
    recipient_hybrid: PrivateKey
    stranger_x25519: PrivateKey
    stranger_hybrid: PrivateKey

    @property
    def recipient_public(self) -> list[Any]:
        return [self.recipient_x25519.public, self.recipient_hybrid.public]

    @property
    def recipient_private(self) -> dict[str, PrivateKey]:
        return {key.kid: key for key in (self.recipient_x25519, self.recipient_hybrid)}


@cache
def parties() -> Parties:
    # Built once: hypothesis runs many examples and keys are not what they vary.
    return Parties(
        sender=generate_key(KeyKind.ED25519, **LIFE),
        other_sender=generate_key(KeyKind.ED25519, **LIFE),
        recipient_x25519=generate_key(KeyKind.X25519, **LIFE),
        recipient_hybrid=generate_key(KeyKind.MLKEM768_X25519, **LIFE),
        stranger_x25519=generate_key(KeyKind.X25519, **LIFE),
        stranger_hybrid=generate_key(KeyKind.MLKEM768_X25519, **LIFE),
    )


def header(
    categories: Mapping[str, Any] | list[str],
    *,
    encryption: str | None = None,
    **overrides: Any,
) -> EnvelopeHeader:
    p = parties()
    fields: dict[str, Any] = {
        "id": new_message_id(),
        "type": "referral.sent",
        "from": "unhcr",
        "to": "iom",
        "sent_at": SENT,
        "expires_at": SENT + timedelta(days=1),
        "agreement": {"id": "agr-7f3a", "version": 2},
        "purpose": "avrr-counselling",
        "consent": "cns-91b2",
        "referral": "ref-0c44",
        "kids": {
            "sig": p.sender.kid,
            "enc": encryption_kids(categories, p.recipient_public, at=SENT, encryption=encryption),
        },
    }
    return EnvelopeHeader.model_validate(fields | overrides)


def envelope(
    categories: Mapping[str, Mapping[str, Any]],
    *,
    body: Mapping[str, Any] | None = None,
    encryption: str | None = None,
    **overrides: Any,
) -> Envelope:
    p = parties()
    return seal_and_sign(
        header(categories, encryption=encryption, **overrides),
        body if body is not None else {"note": "first contact"},
        categories,
        p.recipient_public,
        p.sender,
        encryption=encryption,
    )


CASE = {
    "identity": {"given_name": "Amina", "family_name": "K.", "date_of_birth": "1990-02-03"},
    "contact": {"phone": "+383 44 000 000"},
    "health": {"serious_illness": True, "notes": "insulin-dependent"},
}


def wire(env: EnvelopeEvidence) -> dict[str, Any]:
    """What travels: the JSON text, parsed back as a receiving node would."""
    parsed: dict[str, Any] = json.loads(env.model_dump_json())
    return parsed


# --- JSON strategies ------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=4)


# --- round trips ----------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(identity=json_objects, protection=json_objects, body=json_objects)
def test_opening_returns_exactly_what_was_sealed(
    identity: dict[str, Any], protection: dict[str, Any], body: dict[str, Any]
) -> None:
    # identity goes X25519, protection goes to the hybrid: both suites on every example.
    env = envelope({"identity": identity, "protection": protection}, body=body)
    received = Envelope.model_validate(wire(env))

    verify(received, parties().sender.public)
    opened = open_categories(received, parties().recipient_private)

    assert opened == {"identity": identity, "protection": protection}
    assert received.body == body


def test_envelope_survives_the_wire_unchanged() -> None:
    env = envelope(CASE)

    assert Envelope.model_validate(wire(env)) == env
    assert Envelope.model_validate_json(env.model_dump_json()) == env


def test_message_without_categories_is_signed_and_verifies() -> None:
    env = envelope({}, body={"consent": "withdrawn"}, type="consent.withdrawn")

    verify(env, parties().sender.public)
    assert env.sealed == {}
    assert env.digests == {}


# --- suite choice ---------------------------------------------------------------------------


def test_health_and_protection_are_sealed_post_quantum_by_default() -> None:
    assert required_kind("health") is KeyKind.MLKEM768_X25519
    assert required_kind("protection") is KeyKind.MLKEM768_X25519
    assert required_kind("identity") is KeyKind.X25519
    assert required_kind("identity", "hpke-x25519") is KeyKind.X25519


def test_biometrics_are_sealed_with_the_hybrid_even_under_a_classical_agreement() -> None:
    # DESIGN §9: a fingerprint template outlives any curve; it never travels X25519 alone.
    templates = {"fingerprints": {"template_ref": "bims:fp:7f3a91"}}
    assert required_kind("biometrics", "hpke-x25519") is KeyKind.MLKEM768_X25519

    env = envelope({"biometrics": templates, "identity": CASE["identity"]}, encryption=None)

    p = parties()
    assert env.header.kids.enc == {
        "biometrics": p.recipient_hybrid.kid,
        "identity": p.recipient_x25519.kid,
    }
    assert open_category(env, "biometrics", p.recipient_private) == templates


def test_agreement_can_ask_for_post_quantum_for_every_category() -> None:
    assert required_kind("identity", PQ) is KeyKind.MLKEM768_X25519

    env = envelope(CASE, encryption=PQ)

    hybrid_kid = parties().recipient_hybrid.kid
    assert set(env.header.kids.enc.values()) == {hybrid_kid}
    assert (
        open_category(env, "contact", parties().recipient_private, encryption=PQ)
        == (CASE["contact"])
    )


def test_kids_name_the_hybrid_key_for_health_and_the_x25519_key_otherwise() -> None:
    env = envelope(CASE)
    p = parties()

    assert env.header.kids.enc == {
        "identity": p.recipient_x25519.kid,
        "contact": p.recipient_x25519.kid,
        "health": p.recipient_hybrid.kid,
    }


def test_hybrid_seal_carries_the_1120_byte_mlkem768_x25519_encapsulation() -> None:
    content = {"notes": "x" * 2000}
    env = envelope({"health": content, "identity": content})

    plaintext_length = len(canonical_bytes(content))
    assert len(b64url_decode(env.sealed["health"])) == 1120 + plaintext_length + 16
    assert len(b64url_decode(env.sealed["identity"])) == 32 + plaintext_length + 16


def test_sealing_health_to_a_classical_key_is_refused() -> None:
    p = parties()
    h = header(["health"]).model_copy(
        update={"kids": HeaderKids(sig=p.sender.kid, enc={"health": p.recipient_x25519.kid})}
    )

    with pytest.raises(WeakSuite, match="health"):
        seal(h, {"health": CASE["health"]}, p.recipient_public)


def test_opening_refuses_a_category_sealed_weaker_than_the_agreement_requires() -> None:
    # Sent as if under an X25519 agreement; the recipient's agreement says post-quantum.
    env = envelope({"identity": CASE["identity"]})

    with pytest.raises(WeakSuite):
        open_category(env, "identity", parties().recipient_private, encryption=PQ)


def test_sealing_to_a_key_not_valid_at_sent_at_is_refused() -> None:
    p = parties()
    expired = generate_key(KeyKind.X25519, nbf=SENT - timedelta(days=9), exp=SENT)
    h = header(["identity"]).model_copy(
        update={"kids": HeaderKids(sig=p.sender.kid, enc={"identity": expired.kid})}
    )

    with pytest.raises(KeyExpired):
        seal(h, {"identity": {}}, [expired.public])


def test_sealing_to_an_unknown_kid_is_refused() -> None:
    with pytest.raises(UnknownKey):
        seal(header(["identity"]), {"identity": {}}, [])


# --- tampering ------------------------------------------------------------------------------


def _receive(document: bytes) -> None:
    """Everything a recipient does with incoming bytes; raises on any refusal."""
    received = Envelope.model_validate(json.loads(document))
    verify(received, parties().sender.public)
    open_categories(received, parties().recipient_private)


REFUSALS = (ValueError, EnvelopeError, KeyProblem)  # ValidationError is a ValueError


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_to_the_envelope_is_refused(data: st.DataObject) -> None:
    env = _fixed_envelope()
    document = bytearray(canonical_bytes(wire(env)))
    position = data.draw(st.integers(0, len(document) - 1), label="position")
    document[position] ^= data.draw(st.integers(1, 255), label="xor")

    with pytest.raises(REFUSALS):
        _receive(bytes(document))


@cache
def _fixed_envelope() -> Envelope:
    return envelope(
        {"identity": CASE["identity"], "health": CASE["health"]},
        body={"note": "urgent", "stage": "counselling", "attempt": 2},
    )


def test_unaltered_envelope_is_accepted_by_the_tamper_harness() -> None:
    _receive(canonical_bytes(wire(_fixed_envelope())))


@settings(max_examples=50, deadline=None)
@given(category=st.sampled_from(["identity", "health"]), data=st.data())
def test_a_changed_sealed_byte_fails_the_signed_digest(category: str, data: st.DataObject) -> None:
    env = _fixed_envelope()
    sealed = bytearray(b64url_decode(env.sealed[category]))
    sealed[data.draw(st.integers(0, len(sealed) - 1))] ^= data.draw(st.integers(1, 255))
    tampered = env.model_copy(update={"sealed": env.sealed | {category: b64url_encode(sealed)}})

    with pytest.raises(DigestMismatch):
        verify(tampered, parties().sender.public)
    with pytest.raises(DigestMismatch):
        open_category(tampered, category, parties().recipient_private)


@settings(max_examples=50, deadline=None)
@given(category=st.sampled_from(["identity", "health"]), data=st.data())
def test_a_changed_sealed_byte_with_its_digest_fixed_up_fails_the_signature(
    category: str, data: st.DataObject
) -> None:
    env = _fixed_envelope()
    sealed = bytearray(b64url_decode(env.sealed[category]))
    sealed[data.draw(st.integers(0, len(sealed) - 1))] ^= data.draw(st.integers(1, 255))
    tampered = env.model_copy(
        update={
            "sealed": env.sealed | {category: b64url_encode(sealed)},
            "digests": env.digests | {category: sha256_hex(bytes(sealed))},
        }
    )

    with pytest.raises(BadSignature):
        verify(tampered, parties().sender.public)


@settings(max_examples=50, deadline=None)
@given(category=st.sampled_from(["identity", "health"]), data=st.data())
def test_a_changed_sealed_byte_fails_to_open_even_if_signed_by_the_sender(
    category: str, data: st.DataObject
) -> None:
    # The HPKE tag alone refuses it: not even the sender can alter a seal undetected.
    env = _fixed_envelope()
    sealed = bytearray(b64url_decode(env.sealed[category]))
    sealed[data.draw(st.integers(0, len(sealed) - 1))] ^= data.draw(st.integers(1, 255))
    resigned = sign(
        env.header,
        env.body,
        env.sealed | {category: b64url_encode(sealed)},
        parties().sender,
    )
    verify(resigned, parties().sender.public)

    with pytest.raises(OpenFailed):
        open_category(resigned, category, parties().recipient_private)


HEADER_CHANGES = [
    ("to", "ilo"),
    ("from", "gov-de"),
    ("type", "referral.cancelled"),
    ("purpose", "reintegration-employment"),
    ("consent", "cns-00ff"),
    ("referral", "ref-ffff"),
    ("agreement", {"id": "agr-7f3a", "version": 3}),
    ("agreement", None),
    ("sent_at", SENT + timedelta(seconds=1)),
    ("expires_at", SENT + timedelta(days=2)),
    ("id", "01960000-0000-7000-8000-000000000000"),
]


@pytest.mark.parametrize(("field", "value"), HEADER_CHANGES)
def test_a_changed_header_field_fails_verification(field: str, value: Any) -> None:
    env = _fixed_envelope()
    document = wire(env)
    document["header"][field] = EnvelopeHeader.model_validate(
        document["header"] | {field: value}
    ).model_dump(mode="json")[field]

    with pytest.raises(BadSignature):
        verify(Envelope.model_validate(document), parties().sender.public)


def test_a_changed_body_fails_verification() -> None:
    document = wire(_fixed_envelope())
    document["body"]["attempt"] = 3

    with pytest.raises(BadSignature):
        verify(Envelope.model_validate(document), parties().sender.public)


def test_a_swapped_encryption_kid_fails_verification() -> None:
    document = wire(_fixed_envelope())
    document["header"]["kids"]["enc"]["identity"] = parties().stranger_x25519.kid

    with pytest.raises(BadSignature):
        verify(Envelope.model_validate(document), parties().sender.public)


def test_a_signature_by_another_key_fails() -> None:
    env = _fixed_envelope()
    forged = sign_json(signed_content(env), parties().other_sender)

    with pytest.raises(SignerMismatch):
        verify(env.model_copy(update={"signature": forged}), parties().sender.public)
    impostor = forged.model_copy(update={"kid": parties().sender.kid})
    with pytest.raises(BadSignature):
        verify(env.model_copy(update={"signature": impostor}), parties().sender.public)


def test_verifying_with_a_key_other_than_the_header_names_is_refused() -> None:
    with pytest.raises(SignerMismatch):
        verify(_fixed_envelope(), parties().other_sender.public)


def test_signing_with_a_key_other_than_the_header_names_is_refused() -> None:
    env = _fixed_envelope()

    with pytest.raises(SignerMismatch):
        sign(env.header, env.body, env.sealed, parties().other_sender)


def test_a_signature_from_a_key_expired_at_sent_at_is_refused() -> None:
    p = parties()
    old = generate_key(KeyKind.ED25519, nbf=SENT - timedelta(days=60), exp=SENT - timedelta(days=1))
    h = header(["identity"]).model_copy(
        update={"kids": HeaderKids(sig=old.kid, enc={"identity": p.recipient_x25519.kid})}
    )
    # A sender that ignores the expiry (same secret, longer exp) cannot make it count.
    sealed = seal(h, {"identity": {}}, p.recipient_public)
    still_valid = PrivateKey(
        kind=old.kind, kid=old.kid, nbf=old.nbf, exp=SENT + timedelta(days=1), secret=old.secret
    )
    env = sign(h, {}, sealed, still_valid)

    with pytest.raises(KeyExpired):
        verify(env, old.public)


def test_non_canonical_base64url_in_the_signature_is_refused() -> None:
    document = wire(_fixed_envelope())
    value = document["signature"]["value"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = value[:-1] + alphabet[alphabet.index(value[-1]) + 1]
    loose = base64.urlsafe_b64decode(respelled + "=" * (-len(respelled) % 4))
    assert loose == b64url_decode(value), "the two spellings carry the same bytes"
    document["signature"]["value"] = respelled

    with pytest.raises(ValidationError, match="canonical"):
        Envelope.model_validate(document)


# --- binding of seals to their message and category -----------------------------------------


@pytest.mark.parametrize("category", ["identity", "health"])
def test_a_sealed_category_moved_to_another_message_fails_to_open(category: str) -> None:
    # Even re-signed by the genuine sender, a seal only opens in the header it was made for.
    first = envelope({category: CASE[category]})
    second = envelope({category: {"other": "content"}})
    transplanted = sign(second.header, second.body, first.sealed, parties().sender)
    verify(transplanted, parties().sender.public)

    with pytest.raises(OpenFailed):
        open_category(transplanted, category, parties().recipient_private)


def test_sealed_categories_swapped_between_names_fail_to_open() -> None:
    original = envelope({"identity": CASE["identity"], "contact": CASE["contact"]})
    swapped = {"identity": original.sealed["contact"], "contact": original.sealed["identity"]}
    relabelled = sign(original.header, original.body, swapped, parties().sender)
    verify(relabelled, parties().sender.public)

    for category in ("identity", "contact"):
        with pytest.raises(OpenFailed):
            open_category(relabelled, category, parties().recipient_private)


def test_a_seal_opens_only_with_the_recipient_key_it_was_made_for() -> None:
    env = _fixed_envelope()
    p = parties()
    impostors = {
        p.recipient_x25519.kid: p.stranger_x25519,
        p.recipient_hybrid.kid: p.stranger_hybrid,
    }

    for category in env.sealed:
        with pytest.raises(OpenFailed):
            open_category(env, category, impostors)


def test_a_hybrid_seal_does_not_open_with_a_classical_key() -> None:
    env = _fixed_envelope()
    p = parties()

    with pytest.raises(WeakSuite):
        open_category(env, "health", {p.recipient_hybrid.kid: p.recipient_x25519})


def test_opening_without_the_named_key_is_refused() -> None:
    with pytest.raises(UnknownKey):
        open_category(_fixed_envelope(), "identity", {})


def test_opening_a_category_that_was_not_sent_is_refused() -> None:
    with pytest.raises(CategoryNotSealed):
        open_category(_fixed_envelope(), "protection", parties().recipient_private)


# --- interoperability -----------------------------------------------------------------------

PYHPKE_X25519 = CipherSuite.new(
    KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM
)


def _info(env: Envelope, category: str) -> bytes:
    return b"accord/v1|" + header_digest(env.header) + b"|" + category.encode()


def test_pyhpke_opens_our_x25519_seal() -> None:
    env = _fixed_envelope()
    sealed = b64url_decode(env.sealed["identity"])
    private = X25519PrivateKey.from_private_bytes(parties().recipient_x25519.secret)
    recipient = KEMKey.from_pyca_cryptography_key(private)

    context = PYHPKE_X25519.create_recipient_context(
        sealed[:32], recipient, info=_info(env, "identity")
    )

    assert json.loads(context.open(sealed[32:])) == CASE["identity"]


def test_we_open_what_pyhpke_seals_to_our_published_jwk() -> None:
    p = parties()
    h = header(["identity"])
    published = KEMKey.from_jwk(p.recipient_x25519.public.to_jwk())
    info = b"accord/v1|" + header_digest(h) + b"|identity"
    enc, context = PYHPKE_X25519.create_sender_context(published, info=info)
    ciphertext = context.seal(canonical_bytes(CASE["identity"]))
    env = sign(h, {}, {"identity": b64url_encode(enc + ciphertext)}, p.sender)

    assert open_category(env, "identity", p.recipient_private) == CASE["identity"]


def test_signature_verifies_with_plain_ed25519_over_rfc8785() -> None:
    document = wire(_fixed_envelope())
    jwk = parties().sender.public.to_jwk()
    verifier = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    signed = {name: document[name] for name in ("header", "body", "digests")}

    verifier.verify(b64url_decode(document["signature"]["value"]), rfc8785.dumps(signed))


def test_digests_are_sha256_of_the_sealed_bytes() -> None:
    env = _fixed_envelope()

    for category, value in env.sealed.items():
        assert env.digests[category] == sha256_hex(b64url_decode(value))


# --- JSON shape -----------------------------------------------------------------------------


def test_envelope_json_has_the_documented_shape() -> None:
    document = wire(_fixed_envelope())

    assert set(document) == {"header", "body", "sealed", "digests", "signature"}
    assert set(document["header"]) == {
        "v", "id", "type", "from", "to", "sent_at", "expires_at",
        "agreement", "purpose", "consent", "referral", "kids",
    }  # fmt: skip
    assert document["header"]["v"] == 1
    assert document["header"]["from"] == "unhcr"
    assert document["header"]["sent_at"] == "2026-05-01T12:00:00Z"
    assert document["header"]["agreement"] == {"id": "agr-7f3a", "version": 2}
    assert set(document["header"]["kids"]) == {"sig", "enc"}
    assert set(document["signature"]) == {"kid", "alg", "value"}
    assert document["signature"]["alg"] == "EdDSA"


def test_evidence_keeps_header_body_digests_and_signature_and_still_verifies() -> None:
    env = _fixed_envelope()

    evidence = EnvelopeEvidence.model_validate(wire(env.evidence()))

    assert set(wire(evidence)) == {"header", "body", "digests", "signature"}
    verify(evidence, parties().sender.public)


def test_header_offers_the_python_name_and_the_json_alias_for_from() -> None:
    h = header(["identity"])

    assert h.from_ == "unhcr"
    assert h.model_dump(mode="json")["from"] == "unhcr"


BAD_HEADERS = [
    ("type", "Referral.Sent"),
    ("type", "referral"),
    ("type", "referral..sent"),
    ("id", "6f1c9e4e-8f1e-4c5d-9a43-3e1b1d6f5a10"),
    ("id", "01960000-0000-7000-8000-00000000000A"),
    ("from", "UNHCR"),
    ("sent_at", "2026-05-01T12:00:00+00:00"),
    ("sent_at", "2026-05-01T12:00:00.5Z"),
    ("sent_at", datetime(2026, 5, 1, 12, 0)),
    ("expires_at", SENT),
    ("v", 2),
    ("surprise", "extra member"),
]


@pytest.mark.parametrize(("field", "value"), BAD_HEADERS)
def test_malformed_headers_are_refused(field: str, value: Any) -> None:
    document = header(["identity"]).model_dump(mode="json") | {field: value}

    with pytest.raises(ValidationError):
        EnvelopeHeader.model_validate(document)


def test_aware_datetimes_are_normalised_to_utc_whole_seconds() -> None:
    plus_two = datetime(2026, 5, 1, 14, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=2)))

    h = header(["identity"], sent_at=plus_two)

    assert h.sent_at == SENT
    assert h.model_dump(mode="json")["sent_at"] == "2026-05-01T12:00:00Z"


def test_body_must_be_representable_in_rfc8785() -> None:
    with pytest.raises(ValidationError):
        Envelope.model_validate(wire(_fixed_envelope()) | {"body": {"n": 2**60}})


def test_sealed_and_digests_must_name_the_same_categories() -> None:
    document = wire(_fixed_envelope())
    del document["sealed"]["health"]

    with pytest.raises(ValidationError, match="same categories"):
        Envelope.model_validate(document)


def test_agreement_reference_needs_a_positive_version() -> None:
    with pytest.raises(ValidationError):
        AgreementRef(id="agr-1", version=0)


# --- freshness ------------------------------------------------------------------------------


def test_message_sent_within_five_minutes_is_fresh() -> None:
    h = header(["identity"])

    for offset in (timedelta(0), timedelta(minutes=5), -timedelta(minutes=5)):
        check_fresh(h, now=SENT + offset)
        assert is_fresh(h, now=SENT + offset)


@pytest.mark.parametrize("offset", [timedelta(minutes=5, seconds=1), -timedelta(minutes=6)])
def test_message_sent_outside_the_skew_window_is_refused(offset: timedelta) -> None:
    h = header(["identity"])

    with pytest.raises(ClockSkew):
        check_fresh(h, now=SENT + offset)
    assert not is_fresh(h, now=SENT + offset)


def test_expired_message_is_refused_even_within_skew() -> None:
    h = header(["identity"], expires_at=SENT + timedelta(minutes=1))

    with pytest.raises(MessageExpired):
        check_fresh(h, now=SENT + timedelta(minutes=1))


def test_skew_window_is_configurable() -> None:
    h = header(["identity"])

    assert is_fresh(h, now=SENT + timedelta(minutes=20), skew=timedelta(minutes=30))


# --- receipts -------------------------------------------------------------------------------


def test_delivery_receipt_cites_the_signed_content_and_verifies() -> None:
    env = _fixed_envelope()
    recipient_signing = parties().other_sender
    receipt = delivery_receipt(env, by="iom", received_at=SENT + timedelta(seconds=2))

    signed = sign_receipt(receipt, recipient_signing)
    received = SignedReceipt.model_validate(json.loads(signed.model_dump_json()))

    assert verify_receipt(received, recipient_signing.public) == receipt
    assert receipt.digest == envelope_digest(env) == envelope_digest(env.evidence())
    assert set(wire_receipt := json.loads(signed.model_dump_json())) == {"receipt", "signature"}
    assert wire_receipt["receipt"] == {
        "type": "delivery",
        "message_id": env.header.id,
        "digest": envelope_digest(env),
        "received_at": "2026-05-01T12:00:02Z",
        "by": "iom",
        "accepted": True,
    }


def test_a_refusal_receipt_lists_its_reasons_and_cannot_be_turned_into_an_acceptance() -> None:
    env = _fixed_envelope()
    key = parties().other_sender
    refused = refusal_receipt(
        env,
        by="iom",
        received_at=SENT,
        reasons=[
            RefusalReason(code="purpose_not_in_agreement", message="purpose x is not agreed"),
            RefusalReason(code="consent_missing", message="no consent is cited"),
        ],
    )
    signed = sign_receipt(refused, key)
    wire = json.loads(signed.model_dump_json())
    assert wire["receipt"]["accepted"] is False
    assert [r["code"] for r in wire["receipt"]["reasons"]] == [
        "purpose_not_in_agreement",
        "consent_missing",
    ]
    assert verify_receipt(SignedReceipt.model_validate(wire), key.public) == refused

    wire["receipt"]["accepted"] = True
    wire["receipt"].pop("reasons")
    with pytest.raises(BadSignature):
        verify_receipt(SignedReceipt.model_validate(wire), key.public)
    with pytest.raises(ValidationError):
        refusal_receipt(env, by="iom", received_at=SENT, reasons=[])


def test_erasure_receipt_verifies_and_any_change_is_refused() -> None:
    key = parties().other_sender
    receipt = ErasureReceipt(
        referral="ref-0c44", erased_at=SENT, by="iom", categories=["identity", "health"]
    )
    signed = sign_receipt(receipt, key)
    assert verify_receipt(signed, key.public) == receipt

    document = json.loads(signed.model_dump_json())
    document["receipt"]["categories"] = ["identity"]

    with pytest.raises(BadSignature):
        verify_receipt(SignedReceipt.model_validate(document), key.public)


def test_receipt_signed_by_another_key_is_refused() -> None:
    receipt = delivery_receipt(_fixed_envelope(), by="iom", received_at=SENT)
    signed = sign_receipt(receipt, parties().other_sender)

    with pytest.raises(SignerMismatch):
        verify_receipt(signed, parties().sender.public)


def test_erasure_receipt_lists_each_category_once() -> None:
    with pytest.raises(ValidationError, match="repeat"):
        ErasureReceipt(referral="r-1", erased_at=SENT, by="iom", categories=["health", "health"])


def test_receipt_cannot_be_signed_with_a_key_not_valid_at_its_time() -> None:
    receipt = delivery_receipt(_fixed_envelope(), by="iom", received_at=SENT + timedelta(days=400))

    with pytest.raises(KeyExpired):
        sign_receipt(receipt, parties().other_sender)
