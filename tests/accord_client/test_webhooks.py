"""The client verifies Standard Webhooks deliveries exactly as the reference implementation
signs them (the `standardwebhooks` package), and refuses anything else."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook as ReferenceSigner

from accord_client import WebhookVerificationError, sign_webhook, verify_webhook

SECRET = "whsec_" + base64.b64encode(b"a secret of thirty-two bytes....").decode()
NOW = 1_790_000_000
BODY = json.dumps(
    {
        "type": "referral.accepted",
        "timestamp": "2026-09-21T12:00:00Z",
        "data": {"referral_id": "r-1", "status": "accepted"},
    }
).encode()


def _headers(signature: str, timestamp: int = NOW, msg_id: str = "msg_1") -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def _reference_signature(timestamp: int = NOW, msg_id: str = "msg_1", body: bytes = BODY) -> str:
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    return ReferenceSigner(SECRET).sign(msg_id, when, body.decode())


def test_a_delivery_signed_by_the_reference_signer_verifies() -> None:
    payload = verify_webhook(SECRET, _headers(_reference_signature()), BODY, now=lambda: NOW)
    assert payload["data"]["status"] == "accepted"


def test_our_signature_is_the_reference_signature() -> None:
    assert sign_webhook(SECRET, "msg_1", NOW, BODY) == _reference_signature()


def test_the_reference_verifier_accepts_our_signature() -> None:
    # The reference verifier reads the real clock: sign for now.
    now = int(time.time())
    headers = _headers(sign_webhook(SECRET, "msg_1", now, BODY), timestamp=now)
    assert ReferenceSigner(SECRET).verify(BODY, headers)["type"] == "referral.accepted"


def test_any_of_several_signatures_may_match_during_a_secret_rotation() -> None:
    other = "whsec_" + base64.b64encode(b"the previous secret, now retired").decode()
    both = f"{sign_webhook(other, 'msg_1', NOW, BODY)} v2,ignored {_reference_signature()}"
    assert verify_webhook(SECRET, _headers(both), BODY, now=lambda: NOW)


def test_header_names_are_matched_whatever_their_case() -> None:
    headers = {k.title(): v for k, v in _headers(_reference_signature()).items()}
    assert verify_webhook(SECRET, headers, BODY, now=lambda: NOW)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (_headers(_reference_signature()), BODY.replace(b"accepted", b"declined")),
        (_headers(_reference_signature(msg_id="msg_2")), BODY),
        (_headers(_reference_signature(), msg_id="msg_2"), BODY),
        (_headers(_reference_signature().replace("v1,", "v2,")), BODY),
        ({"webhook-id": "msg_1", "webhook-timestamp": str(NOW)}, BODY),
    ],
    ids=["body changed", "signed for another id", "id changed", "unknown version", "unsigned"],
)
def test_a_tampered_or_unsigned_delivery_is_refused(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, headers, body, now=lambda: NOW)


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_delivery_more_than_five_minutes_off_is_refused(skew: int) -> None:
    headers = _headers(_reference_signature(NOW + skew), NOW + skew)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, headers, BODY, now=lambda: NOW)
    assert verify_webhook(SECRET, headers, BODY, now=lambda: NOW + skew - skew // abs(skew))
