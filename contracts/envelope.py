"""The envelope every node-to-node message travels in: sealed per category, signed (DESIGN §4).

An envelope is JSON::

    {"header": {"v": 1, "id": <UUIDv7>, "type": "referral.sent", "from": "unhcr", "to": "iom",
                "sent_at": "2026-05-01T12:00:00Z", "expires_at": "2026-05-02T12:00:00Z",
                "agreement": {"id": ..., "version": 2}, "purpose": "avrr-counselling",
                "consent": ..., "referral": ...,
                "kids": {"sig": <sender kid>, "enc": {"identity": <recipient kid>, ...}}},
     "body": {...non-personal JSON...},
     "sealed": {"identity": <base64url(enc || ciphertext)>, ...},
     "digests": {"identity": <hex SHA-256 of the sealed bytes>, ...},
     "signature": {"kid": <sender kid>, "alg": "EdDSA", "value": <base64url>}}

- Each category is sealed on its own (RFC 9180 base mode, single shot) to the recipient's
  encryption key, so a recipient can open, re-seal at rest and later erase each category
  separately, and its data roles can be granted per category.
- The HPKE ``info`` is ``b"accord/v1|" + SHA-256(JCS(header)) + b"|" + category``: the seal is
  bound to this message's header (id, parties, agreement, consent, kids) and to the category
  name, so a sealed category cannot be moved to another message or relabelled. RFC 9180 §8.1
  recommends ``info`` for exactly this in single-shot use. It stays under the 64 bytes every
  RFC 9180 implementation must accept (§7.2.1).
- ``signature`` is Ed25519 (JWS ``EdDSA``, RFC 8037) over the RFC 8785 form of
  ``{"header", "body", "digests"}``. ``sealed`` is covered through ``digests``, so a recipient
  keeps header, body, digests and signature as evidence after erasing the content
  (:class:`EnvelopeEvidence`, the ``envelope`` of ``GET /v1/referrals/{id}/evidence``).
- Timestamps are RFC 3339 UTC at whole seconds (``2026-05-01T12:00:00Z``), and base64url values
  must be canonical: every signed value has exactly one spelling, so parsing and re-serialising
  reproduces the signed bytes.

Suite choice: ``hpke-mlkem768-x25519`` for the sensitive categories (``health``, ``protection``,
``biometrics``) always, and for every
category when the agreement's ``encryption`` asks for it; ``hpke-x25519`` otherwise. The sender
picks keys accordingly (:func:`encryption_kids`), and both :func:`seal` and
:func:`open_category` refuse a weaker suite than the rule requires.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

import uuid_utils
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from contracts.agencies import AgencySlug
from contracts.agreements import AgreementRef
from contracts.canonical import b64url_encode, canonical_bytes, canonical_digest, sha256_hex
from contracts.categories import SENSITIVE_CATEGORIES
from contracts.keys import (
    KeyKind,
    PrivateKey,
    PublicKey,
    UnknownKey,
    WrongKeyUse,
    current_key,
    strict_b64url_decode,
)

__all__ = [
    "DEFAULT_SKEW",
    "POST_QUANTUM_CATEGORIES",
    "SIGNATURE_ALG",
    "AgreementRef",
    "BadSignature",
    "CategoryNotSealed",
    "ClockSkew",
    "DeliveryReceipt",
    "DigestMismatch",
    "Envelope",
    "EnvelopeError",
    "EnvelopeEvidence",
    "EnvelopeHeader",
    "ErasureReceipt",
    "HeaderKids",
    "MessageExpired",
    "NotFresh",
    "OpenFailed",
    "Receipt",
    "RefusalReason",
    "SignatureBlock",
    "SignedContent",
    "SignedReceipt",
    "SignerMismatch",
    "Timestamp",
    "WeakSuite",
    "check_fresh",
    "delivery_receipt",
    "encryption_kids",
    "envelope_digest",
    "format_timestamp",
    "header_digest",
    "is_fresh",
    "new_message_id",
    "open_categories",
    "open_category",
    "refusal_receipt",
    "required_kind",
    "seal",
    "seal_and_sign",
    "sign",
    "sign_json",
    "sign_receipt",
    "signed_content",
    "verify",
    "verify_json",
    "verify_receipt",
]

SIGNATURE_ALG: Final = "EdDSA"
DEFAULT_SKEW: Final = timedelta(minutes=5)
#: Categories sealed post-quantum whatever the agreement says: their sensitivity outlives
#: today's curves (DESIGN §4, §9), so "harvest now, decrypt later" must not pay off.
POST_QUANTUM_CATEGORIES: Final = frozenset(c.value for c in SENSITIVE_CATEGORIES)

_INFO_PREFIX: Final = b"accord/v1|"
_ED25519_SIGNATURE_BYTES: Final = 64
_EXACT_INTEGER_LIMIT: Final = 2**53
# RFC 9180 §7: KEM, KDF and AEAD per suite; the KEM follows from the recipient key's kind.
_SUITES: Final = {
    KeyKind.X25519: hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
    KeyKind.MLKEM768_X25519: hpke.Suite(
        hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM
    ),
}


# --- errors ---------------------------------------------------------------------------------


class EnvelopeError(Exception):
    """Base of every refusal of an envelope or receipt by this module."""


class BadSignature(EnvelopeError):
    """The Ed25519 signature does not verify over the signed content with the sender's key."""


class SignerMismatch(EnvelopeError):
    """The signature's kid, the header's ``kids.sig`` and the key offered do not agree."""


class DigestMismatch(EnvelopeError):
    """A sealed category's bytes do not hash to the signed digest: altered in transit or store."""


class CategoryNotSealed(EnvelopeError, LookupError):
    """The envelope carries no sealed content for that category."""


class OpenFailed(EnvelopeError):
    """HPKE refused to open: wrong key, or a category moved, renamed or altered."""


class WeakSuite(EnvelopeError):
    """A category is (or would be) sealed with a weaker suite than its rule requires."""


class NotFresh(EnvelopeError):
    """The message is outside its freshness window."""


class ClockSkew(NotFresh):
    """``sent_at`` is further from now than the allowed skew."""


class MessageExpired(NotFresh):
    """``expires_at`` has passed."""


# --- value types ----------------------------------------------------------------------------

_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC at whole seconds with ``Z``: the one spelling of a signed timestamp."""
    m = moment.astimezone(UTC)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}Z"


def _parse_timestamp(value: object) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(microsecond=0)
    if isinstance(value, str):
        # Only the exact form we emit: anything else would re-serialise differently and break
        # the signature over it.
        if not _RFC3339_UTC.fullmatch(value):
            raise ValueError("timestamps must look like 2026-05-01T12:00:00Z (UTC, whole seconds)")
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    raise ValueError("timestamps must be RFC 3339 strings")


Timestamp = Annotated[
    datetime,
    BeforeValidator(_parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$",
            "examples": ["2026-05-01T12:00:00Z"],
        }
    ),
]


def _check_uuid7(value: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except ValueError as exc:
        raise ValueError("not a UUID") from exc
    if parsed.variant != uuid.RFC_4122 or parsed.version != 7 or str(parsed) != value:
        raise ValueError("must be a UUIDv7 (RFC 9562) in lowercase hyphenated form")
    return value


def _check_b64url(value: str) -> str:
    strict_b64url_decode(value)
    return value


def _check_signature_value(value: str) -> str:
    strict_b64url_decode(value, length=_ED25519_SIGNATURE_BYTES, what="signature value")
    return value


def _check_json_object(value: dict[str, Any]) -> dict[str, Any]:
    # What is signed is the RFC 8785 form; refuse what JCS cannot represent (NaN, integers
    # beyond ±2^53) here, not at signing time.
    canonical_bytes(value)
    return value


UUIDv7 = Annotated[str, AfterValidator(_check_uuid7)]
Category = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
MessageType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Purpose = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Kid = Annotated[str, StringConstraints(min_length=1, max_length=128)]
HexDigest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
B64url = Annotated[str, AfterValidator(_check_b64url)]
JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_check_json_object)]


def new_message_id() -> str:
    """A fresh UUIDv7 (RFC 9562): time-ordered, so inboxes and outboxes index well."""
    return str(uuid_utils.uuid7())


# --- models ---------------------------------------------------------------------------------


class HeaderKids(BaseModel):
    """The keys used: the sender's signing kid, and per category the recipient's kid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sig: Kid
    enc: dict[Category, Kid] = Field(default_factory=dict)


class EnvelopeHeader(BaseModel):
    """Who sends what to whom, when, under which agreement, purpose and consent."""

    # ``from`` is a Python keyword: the field is ``from_`` in code and ``from`` in JSON. The
    # config is written out here, not shared, because the pydantic mypy plugin only reads a
    # literal ``ConfigDict`` in the class body.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    v: Literal[1] = 1
    id: UUIDv7
    type: MessageType
    from_: AgencySlug = Field(alias="from")
    to: AgencySlug
    sent_at: Timestamp
    expires_at: Timestamp
    agreement: AgreementRef | None = None
    purpose: Purpose | None = None
    consent: Identifier | None = None
    referral: Identifier | None = None
    kids: HeaderKids

    @model_validator(mode="after")
    def _expires_after_sending(self) -> EnvelopeHeader:
        if self.expires_at <= self.sent_at:
            raise ValueError("expires_at must be after sent_at")
        return self


class SignatureBlock(BaseModel):
    """``{"kid", "alg": "EdDSA", "value"}``: an Ed25519 signature over an RFC 8785 form."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kid: Kid
    alg: Literal["EdDSA"] = SIGNATURE_ALG
    value: Annotated[str, AfterValidator(_check_signature_value)]


class SignedContent(BaseModel):
    """What the sender signs: ``{"header", "body", "digests"}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    header: EnvelopeHeader
    body: JsonObject = Field(default_factory=dict)
    digests: dict[Category, HexDigest] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _digests_match_kids(self) -> SignedContent:
        if set(self.digests) != set(self.header.kids.enc):
            raise ValueError("digests and header.kids.enc must name the same categories")
        return self


class EnvelopeEvidence(SignedContent):
    """The signed envelope without its sealed content: what stays after erasure (DESIGN §8)."""

    signature: SignatureBlock


class Envelope(EnvelopeEvidence):
    """A complete node-to-node message."""

    sealed: dict[Category, B64url] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _sealed_match_digests(self) -> Envelope:
        if set(self.sealed) != set(self.digests):
            raise ValueError("sealed and digests must name the same categories")
        return self

    def evidence(self) -> EnvelopeEvidence:
        """The envelope minus ``sealed``: the ``envelope`` member of the evidence document."""
        return EnvelopeEvidence.model_validate(self.model_dump(exclude={"sealed"}))


# --- signing helpers ------------------------------------------------------------------------


def sign_json(value: Any, key: PrivateKey) -> SignatureBlock:
    """Ed25519 (RFC 8032) over the RFC 8785 form of ``value``."""
    signature = key.signer.sign(canonical_bytes(value))
    return SignatureBlock(kid=key.kid, value=b64url_encode(signature))


def verify_json(value: Any, signature: SignatureBlock, key: PublicKey) -> None:
    """Check a :func:`sign_json` signature; raises :class:`SignerMismatch` or
    :class:`BadSignature`."""
    if signature.kid != key.kid:
        raise SignerMismatch(f"signed with key {signature.kid}, verifying with {key.kid}")
    raw = strict_b64url_decode(signature.value, length=_ED25519_SIGNATURE_BYTES)
    try:
        key.verifier.verify(raw, canonical_bytes(value))
    except InvalidSignature as exc:
        raise BadSignature(f"signature by {key.kid} does not verify") from exc


def header_digest(header: EnvelopeHeader) -> bytes:
    """SHA-256 of the RFC 8785 form of the header, as bound into every seal's ``info``."""
    return hashlib.sha256(canonical_bytes(header.model_dump(mode="json"))).digest()


def signed_content(envelope: SignedContent) -> dict[str, Any]:
    """The JSON value the signature covers: ``{"header", "body", "digests"}``."""
    return envelope.model_dump(mode="json", include={"header", "body", "digests"})


def envelope_digest(envelope: SignedContent) -> str:
    """Hex SHA-256 of the RFC 8785 form of the signed content: what a delivery receipt cites."""
    return canonical_digest(signed_content(envelope))


# --- sealing --------------------------------------------------------------------------------


def required_kind(category: str, encryption: str | None = None) -> KeyKind:
    """The suite a category must be sealed with, given the agreement's ``encryption`` term.

    ``None`` means the agreement does not say, which is the same as ``hpke-x25519``.
    """
    wanted = KeyKind.X25519 if encryption is None else KeyKind(encryption)
    if wanted is KeyKind.ED25519:
        raise ValueError("ed25519 is not an encryption suite")
    if category in POST_QUANTUM_CATEGORIES:
        return KeyKind.MLKEM768_X25519
    return wanted


def _require_strength(category: str, kind: KeyKind, encryption: str | None) -> None:
    if kind is KeyKind.ED25519:
        raise WrongKeyUse(f"category {category} names a signing key")
    if required_kind(category, encryption).is_post_quantum and not kind.is_post_quantum:
        raise WeakSuite(
            f"category {category} must be sealed with hpke-mlkem768-x25519, not {kind.value}"
        )


def encryption_kids(
    categories: Iterable[str],
    recipient_keys: Iterable[PublicKey],
    *,
    at: datetime,
    encryption: str | None = None,
) -> dict[str, str]:
    """The recipient kid to seal each category to: the current key of the required suite.

    Use it to fill ``header.kids.enc`` before calling :func:`seal`. Raises
    ``contracts.keys.NoUsableKey`` when the recipient publishes no such key.
    """
    keys = list(recipient_keys)
    return {
        category: current_key(keys, required_kind(category, encryption), at=at).kid
        for category in categories
    }


def _info(header_hash: bytes, category: str) -> bytes:
    return _INFO_PREFIX + header_hash + b"|" + category.encode("ascii")


def _public_keys_by_kid(
    keys: Mapping[str, PublicKey] | Iterable[PublicKey],
) -> Mapping[str, PublicKey]:
    if isinstance(keys, Mapping):
        return keys
    return {key.kid: key for key in keys}


def seal(
    header: EnvelopeHeader,
    categories: Mapping[str, Mapping[str, Any]],
    recipient_keys: Mapping[str, PublicKey] | Iterable[PublicKey],
    *,
    encryption: str | None = None,
) -> dict[str, str]:
    """Seal each category to the recipient key the header names for it (RFC 9180 base mode).

    Each category's JSON object is sealed as its RFC 8785 bytes. Returns ``{category:
    base64url(enc || ciphertext)}``. Refuses a key that is unknown (``UnknownKey``), not valid
    at ``sent_at`` (``KeyExpired``/``KeyNotYetValid``) or weaker than required
    (:class:`WeakSuite`).
    """
    if set(categories) != set(header.kids.enc):
        raise ValueError("the categories to seal and header.kids.enc must match")
    keys = _public_keys_by_kid(recipient_keys)
    header_hash = header_digest(header)
    sealed: dict[str, str] = {}
    for category, content in categories.items():
        kid = header.kids.enc[category]
        key = keys.get(kid)
        if key is None:
            raise UnknownKey(f"no recipient key {kid} for category {category}")
        _require_strength(category, key.kind, encryption)
        key.check_usable_at(header.sent_at)
        if not isinstance(content, Mapping):
            raise TypeError(f"category {category} must be a JSON object")
        ciphertext = _SUITES[key.kind].encrypt(
            canonical_bytes(dict(content)), key.hpke_public, info=_info(header_hash, category)
        )
        sealed[category] = b64url_encode(ciphertext)
    return sealed


def sign(
    header: EnvelopeHeader,
    body: Mapping[str, Any],
    sealed: Mapping[str, str],
    sender_key: PrivateKey,
) -> Envelope:
    """Digest the sealed categories and sign ``{"header", "body", "digests"}`` (DESIGN §4)."""
    if sender_key.kid != header.kids.sig:
        raise SignerMismatch(f"header names signing key {header.kids.sig}, not {sender_key.kid}")
    sender_key.check_usable_at(header.sent_at)
    digests = {category: sha256_hex(strict_b64url_decode(v)) for category, v in sealed.items()}
    content = SignedContent(header=header, body=dict(body), digests=digests)
    return Envelope(
        header=header,
        body=content.body,
        digests=content.digests,
        sealed=dict(sealed),
        signature=sign_json(signed_content(content), sender_key),
    )


def seal_and_sign(
    header: EnvelopeHeader,
    body: Mapping[str, Any],
    categories: Mapping[str, Mapping[str, Any]],
    recipient_keys: Mapping[str, PublicKey] | Iterable[PublicKey],
    sender_key: PrivateKey,
    *,
    encryption: str | None = None,
) -> Envelope:
    """:func:`seal` then :func:`sign`: the whole sending side."""
    sealed = seal(header, categories, recipient_keys, encryption=encryption)
    return sign(header, body, sealed, sender_key)


# --- receiving ------------------------------------------------------------------------------


def _check_digest(envelope: Envelope, category: str) -> bytes:
    sealed = strict_b64url_decode(envelope.sealed[category])
    expected = envelope.digests[category]
    if not hmac.compare_digest(sha256_hex(sealed), expected):
        raise DigestMismatch(f"sealed {category} does not match its signed digest")
    return sealed


def verify(envelope: EnvelopeEvidence, sender_public_key: PublicKey) -> None:
    """Verify the sender's signature, and for a full :class:`Envelope` every sealed digest.

    The key must be the one the header names and valid at ``sent_at`` (so evidence stays
    verifiable after the key expires; freshness at receipt is :func:`check_fresh`'s job).
    Raises :class:`SignerMismatch`, ``WrongKeyUse``, ``KeyExpired``, ``KeyNotYetValid``,
    :class:`BadSignature` or :class:`DigestMismatch`.
    """
    header = envelope.header
    if envelope.signature.kid != header.kids.sig:
        raise SignerMismatch(
            f"signature kid {envelope.signature.kid} is not header kid {header.kids.sig}"
        )
    if sender_public_key.kind is not KeyKind.ED25519:
        raise WrongKeyUse(f"key {sender_public_key.kid} is not a signing key")
    sender_public_key.check_usable_at(header.sent_at)
    verify_json(signed_content(envelope), envelope.signature, sender_public_key)
    if isinstance(envelope, Envelope):
        for category in envelope.sealed:
            _check_digest(envelope, category)


def _ijson_int(text: str) -> int | float:
    # RFC 8785 numbers are IEEE 754 doubles (I-JSON, RFC 7493 §2.2): a float like 2.4e16 is
    # serialised as the integer literal 24332551374645150. Reading literals beyond 2^53 back as
    # doubles returns the value that was sealed rather than a different, exact integer.
    value = int(text)
    return value if abs(value) <= _EXACT_INTEGER_LIMIT else float(text)


def open_category(
    envelope: Envelope,
    category: str,
    recipient_private_keys_by_kid: Mapping[str, PrivateKey],
    *,
    encryption: str | None = None,
) -> dict[str, Any]:
    """Open one sealed category after checking it against its signed digest.

    Call :func:`verify` first: the digest is only as good as the signature over it. Raises
    :class:`CategoryNotSealed`, :class:`DigestMismatch`, ``UnknownKey``, :class:`WeakSuite` or
    :class:`OpenFailed` (wrong key; category moved from another message or renamed).
    """
    if category not in envelope.sealed:
        raise CategoryNotSealed(f"the message carries no sealed {category}")
    sealed = _check_digest(envelope, category)
    kid = envelope.header.kids.enc[category]
    key = recipient_private_keys_by_kid.get(kid)
    if key is None:
        raise UnknownKey(f"no private key {kid} to open {category}")
    _require_strength(category, key.kind, encryption)
    try:
        plaintext = _SUITES[key.kind].decrypt(
            sealed, key.hpke_private, info=_info(header_digest(envelope.header), category)
        )
    except InvalidTag as exc:
        raise OpenFailed(f"could not open {category} with key {kid}") from exc
    try:
        content = json.loads(plaintext, parse_int=_ijson_int)
    except ValueError as exc:
        raise OpenFailed(f"sealed {category} is not JSON") from exc
    if not isinstance(content, dict):
        raise OpenFailed(f"sealed {category} is not a JSON object")
    return content


def open_categories(
    envelope: Envelope,
    recipient_private_keys_by_kid: Mapping[str, PrivateKey],
    *,
    encryption: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Every sealed category, opened (see :func:`open_category`)."""
    return {
        category: open_category(
            envelope, category, recipient_private_keys_by_kid, encryption=encryption
        )
        for category in envelope.sealed
    }


def check_fresh(header: EnvelopeHeader, *, now: datetime, skew: timedelta = DEFAULT_SKEW) -> None:
    """Refuse a message sent too far from ``now`` or past its ``expires_at``.

    The skew window bounds replay of an old message and the use of a backdated ``sent_at`` to
    slip in under a key that has since expired. Raises :class:`ClockSkew` or
    :class:`MessageExpired`.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if abs(header.sent_at - now) > skew:
        raise ClockSkew(
            f"message {header.id} was sent at {format_timestamp(header.sent_at)}, "
            f"more than {skew} from now ({format_timestamp(now)})"
        )
    if now >= header.expires_at:
        raise MessageExpired(
            f"message {header.id} expired at {format_timestamp(header.expires_at)}"
        )


def is_fresh(header: EnvelopeHeader, *, now: datetime, skew: timedelta = DEFAULT_SKEW) -> bool:
    """True when :func:`check_fresh` would accept the message."""
    try:
        check_fresh(header, now=now, skew=skew)
    except NotFresh:
        return False
    return True


# --- receipts -------------------------------------------------------------------------------


class RefusalReason(BaseModel):
    """One reason a recipient refused a message it verified: a stable ``code`` for systems and
    a ``message`` for the people who must act on it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    message: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


def _no_reasons(reasons: tuple[RefusalReason, ...]) -> bool:
    return not reasons


class DeliveryReceipt(BaseModel):
    """The recipient's signed answer to a message it verified (DESIGN §4): ``accepted`` when it
    stored it, or a refusal of its content with every reason (``accepted: false``).

    A refusal is as binding as an acceptance: the sender files it as proof that the message
    reached the recipient and was refused there, and why.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The type keeps a signature over one kind of receipt from reading as another.
    type: Literal["delivery"] = "delivery"
    message_id: UUIDv7
    digest: HexDigest
    received_at: Timestamp
    by: AgencySlug
    accepted: bool = True
    # An acceptance is {"accepted": true} with no "reasons" member: what DESIGN §4 shows.
    # (A field rule rather than a model serializer, so JSON Schema tools see the model.)
    reasons: tuple[RefusalReason, ...] = Field((), exclude_if=_no_reasons)

    @model_validator(mode="after")
    def _refusals_give_reasons(self) -> DeliveryReceipt:
        if self.accepted == bool(self.reasons):
            raise ValueError("a refusal lists its reasons, and an acceptance lists none")
        return self

    @property
    def at(self) -> datetime:
        """When the receipt speaks for: the signing key must be valid then."""
        return self.received_at


class ErasureReceipt(BaseModel):
    """The recipient's signed statement that it erased a referral's content (DESIGN §5)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["erasure"] = "erasure"
    referral: Identifier
    erased_at: Timestamp
    by: AgencySlug
    categories: list[Category]

    @model_validator(mode="after")
    def _categories_unique(self) -> ErasureReceipt:
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("categories must not repeat")
        return self

    @property
    def at(self) -> datetime:
        """When the receipt speaks for: the signing key must be valid then."""
        return self.erased_at


Receipt = Annotated[DeliveryReceipt | ErasureReceipt, Field(discriminator="type")]


class SignedReceipt(BaseModel):
    """``{"receipt": {...}, "signature": {"kid", "alg", "value"}}``, as listed in evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    receipt: Receipt
    signature: SignatureBlock


def delivery_receipt(envelope: SignedContent, *, by: str, received_at: datetime) -> DeliveryReceipt:
    """The receipt for ``envelope``, citing the digest of its signed content."""
    return DeliveryReceipt(
        message_id=envelope.header.id,
        digest=envelope_digest(envelope),
        received_at=received_at,
        by=by,
    )


def refusal_receipt(
    envelope: SignedContent,
    *,
    by: str,
    received_at: datetime,
    reasons: Iterable[RefusalReason],
) -> DeliveryReceipt:
    """The receipt refusing ``envelope``'s content, with every reason (DESIGN §4)."""
    return DeliveryReceipt(
        message_id=envelope.header.id,
        digest=envelope_digest(envelope),
        received_at=received_at,
        by=by,
        accepted=False,
        reasons=tuple(reasons),
    )


def sign_receipt(receipt: DeliveryReceipt | ErasureReceipt, key: PrivateKey) -> SignedReceipt:
    """Ed25519 over the RFC 8785 form of the receipt, by a key valid at the receipt's time."""
    key.check_usable_at(receipt.at)
    return SignedReceipt(receipt=receipt, signature=sign_json(receipt.model_dump(mode="json"), key))


def verify_receipt(
    signed: SignedReceipt, public_key: PublicKey
) -> DeliveryReceipt | ErasureReceipt:
    """Check a receipt's signature and that the key was valid when it was issued.

    The caller still checks that ``receipt.by`` is the agency whose key this is, and, for a
    delivery receipt, that the digest is the one of the message it sent.
    """
    public_key.check_usable_at(signed.receipt.at)
    verify_json(signed.receipt.model_dump(mode="json"), signed.signature, public_key)
    return signed.receipt
