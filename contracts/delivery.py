"""Delivery attempts: what makes a retried message fresh without changing the message.

An envelope is sealed and signed once, with a stable id and digest, and may wait in the
sender's outbox for hours while the recipient's node is down. Re-signing it on every retry
would change its content, and the recipient could no longer tell a retry (same id, same
content: answer with the same receipt) from a forgery (same id, other content: refuse). So
freshness is carried by a second, small signed statement made for each attempt: which message
(id and digest), to whom, and when. The recipient refuses an attempt outside the clock-skew
window, which makes a captured request useless to replay later, and checks the envelope itself
only for a future ``sent_at`` and for expiry.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from contracts.agencies import AgencySlug
from contracts.canonical import b64url_decode, b64url_encode, canonical_bytes
from contracts.envelope import (
    DEFAULT_SKEW,
    ClockSkew,
    EnvelopeHeader,
    MessageExpired,
    SignatureBlock,
    SignedContent,
    Timestamp,
    envelope_digest,
    format_timestamp,
    sign_json,
    verify_json,
)
from contracts.keys import PrivateKey, PublicKey

__all__ = [
    "AttemptMismatch",
    "DeliveryAttempt",
    "MalformedAttempt",
    "SignedAttempt",
    "check_envelope_time",
    "decode_attempt",
    "encode_attempt",
    "make_attempt",
    "verify_attempt",
]


class MalformedAttempt(ValueError):
    pass


class AttemptMismatch(ValueError):
    """The attempt speaks of another message, digest or recipient than the one it came with."""


class DeliveryAttempt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["delivery-attempt"] = "delivery-attempt"
    message_id: str
    digest: str
    to: AgencySlug
    attempt_at: Timestamp


class SignedAttempt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    attempt: DeliveryAttempt
    signature: SignatureBlock


def make_attempt(envelope: SignedContent, key: PrivateKey, *, at: datetime) -> SignedAttempt:
    """Sign an attempt to deliver ``envelope`` now, with the sender's signing key."""
    attempt = DeliveryAttempt(
        message_id=envelope.header.id,
        digest=envelope_digest(envelope),
        to=envelope.header.to,
        attempt_at=at,
    )
    return SignedAttempt(attempt=attempt, signature=sign_json(attempt.model_dump(mode="json"), key))


def encode_attempt(signed: SignedAttempt) -> str:
    """The ``Accord-Attempt`` HTTP header value: base64url of the RFC 8785 JSON."""
    return b64url_encode(canonical_bytes(signed.model_dump(mode="json")))


def decode_attempt(value: str) -> SignedAttempt:
    try:
        return SignedAttempt.model_validate(json.loads(b64url_decode(value, what="attempt")))
    except (ValueError, ValidationError) as exc:
        raise MalformedAttempt(
            "the Accord-Attempt header is not a signed delivery attempt"
        ) from exc


def verify_attempt(
    signed: SignedAttempt,
    envelope: SignedContent,
    sender_key: PublicKey,
    *,
    now: datetime,
    skew: timedelta = DEFAULT_SKEW,
) -> None:
    """The attempt is the sender's, about this message, to its addressee, and made just now.

    Raises ``SignerMismatch``/``BadSignature`` (signature), :class:`AttemptMismatch`, or
    ``ClockSkew`` when the attempt was made further than ``skew`` from ``now``.
    """
    attempt = signed.attempt
    verify_json(attempt.model_dump(mode="json"), signed.signature, sender_key)
    if (attempt.message_id, attempt.to) != (envelope.header.id, envelope.header.to):
        raise AttemptMismatch("the attempt names another message or recipient")
    if attempt.digest != envelope_digest(envelope):
        raise AttemptMismatch("the attempt was made for other content under this message id")
    if abs(attempt.attempt_at - now) > skew:
        raise ClockSkew(
            f"delivery attempt made at {format_timestamp(attempt.attempt_at)}, more than "
            f"{skew} from now ({format_timestamp(now)}): replayed, or a clock is wrong"
        )


def check_envelope_time(
    header: EnvelopeHeader, *, now: datetime, skew: timedelta = DEFAULT_SKEW
) -> None:
    """A message may wait in an outbox, so an old ``sent_at`` is fine; one from the future
    (beyond clock skew) or past ``expires_at`` is not."""
    if header.sent_at - now > skew:
        raise ClockSkew(
            f"message {header.id} claims to be sent at {format_timestamp(header.sent_at)}, "
            f"in the future by more than {skew}"
        )
    if now >= header.expires_at:
        raise MessageExpired(
            f"message {header.id} expired at {format_timestamp(header.expires_at)}"
        )
