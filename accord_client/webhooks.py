"""Verifying a webhook delivery (Standard Webhooks v1, DESIGN §10).

The node signs ``"{webhook-id}.{webhook-timestamp}.{body}"`` with HMAC-SHA256 under the
subscription's secret (``whsec_<base64>``) and sends ``webhook-signature: v1,<base64>``,
possibly several space-separated signatures while a secret is being rotated. A delivery is
genuine when any ``v1`` signature matches and its timestamp is within five minutes of now.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from .errors import AccordError

TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"


class WebhookVerificationError(AccordError):
    """The delivery is not genuine, or is too old or too new to trust: reject it (400)."""


def _secret_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        # Unpadded base64 is accepted, as the reference implementation accepts it.
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def sign_webhook(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one delivery (what the node sends)."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    now: Callable[[], float] = time.time,
    tolerance: int = TOLERANCE_SECONDS,
) -> dict[str, Any]:
    """The delivery's JSON payload once its signature and timestamp verify; raises
    :class:`WebhookVerificationError` otherwise. ``headers`` may use any letter case."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or signature")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not a Unix time") from exc
    current = now()
    if timestamp < current - tolerance:
        raise WebhookVerificationError("the delivery is too old")
    if timestamp > current + tolerance:
        raise WebhookVerificationError("the delivery's timestamp is in the future")
    raw = body.encode() if isinstance(body, str) else body
    expected = sign_webhook(secret, msg_id, timestamp, raw).split(",", 1)[1].encode()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            payload: dict[str, Any] = json.loads(raw)
            return payload
    raise WebhookVerificationError("no signature matches")
