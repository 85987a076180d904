"""Canonical bytes and digests: what every signature and every agreement digest is computed over.

RFC 8785 (JSON Canonicalization Scheme) makes the same JSON value serialise to the same bytes
on every node and in every language, so a signature made at one agency verifies at another.
"""

from __future__ import annotations

import base64
import hashlib
import re
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


def b64url_decode(text: str, *, length: int | None = None, what: str = "value") -> bytes:
    """Inverse of ``b64url_encode``, refusing any text that is not the canonical encoding.

    Several strings decode to the same bytes when the unused low bits of the last character are
    set; signed and published values must have exactly one spelling, or a signed document
    could be re-spelled without the change being detected.
    """
    if not isinstance(text, str) or not _B64URL_TEXT.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError(f"{what} is not base64url without padding")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ValueError(f"{what} is not canonical base64url")
    if length is not None and len(data) != length:
        raise ValueError(f"{what} must be {length} bytes, not {len(data)}")
    return data


_B64URL_TEXT = re.compile(r"[A-Za-z0-9_-]*")
