"""Standard Webhooks signing (https://www.standardwebhooks.com, spec §"Signature scheme").

Secrets are ``whsec_`` + base64 of random bytes; a signature is ``v1,`` + base64 of
HMAC-SHA256 over ``"{webhook-id}.{webhook-timestamp}.{body}"`` keyed with the decoded bytes;
several signatures are separated by spaces (how a rotation signs with old and new secret).
This is the spec's construction itself, not one of ours: the tests verify every delivery with
the reference implementation (the ``standardwebhooks`` package), which a runtime dependency on
that same package could not do independently.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

PREFIX = "whsec_"
#: The spec allows 24 to 64 bytes; 32 is HMAC-SHA256's block-size-friendly key length.
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def key_of(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Iterable[str], *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,`` signature per secret, space-separated."""
    return " ".join(sign(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets_)
