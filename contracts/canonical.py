"""Canonical bytes and digests: what every signature and every agreement digest is computed over.

RFC 8785 (JSON Canonicalization Scheme) makes the same JSON value serialise to the same bytes
on every node and in every language, so a signature made at one agency verifies at another.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import rfc8785


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 serialisation of a JSON value (dicts, lists, str, int, bool, None)."""
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_digest(value: Any) -> str:
    """Hex SHA-256 of the RFC 8785 form: the ``digest`` of agreements and evidence."""
    return sha256_hex(canonical_bytes(value))


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2), the encoding of every binary value we publish."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of ``b64url_encode``; refuses padding and characters outside the alphabet."""
    if "=" in text or any(c not in _B64URL_ALPHABET for c in text) or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
