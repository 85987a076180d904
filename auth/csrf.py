"""The console session's CSRF secret, and the masked tokens pages carry instead of it.

A compressed page that holds a secret and also reflects something the attacker chose leaks the
secret through its size, a byte at a time, to whoever can watch sizes on the wire and make the
browser load the page many times (BREACH, Gluck, Harris and Prado 2013). The defence the paper
gives in §3.4, "masking secrets", is what Django does (``_mask_cipher_secret``): each page
carries ``pad || (pad XOR secret)`` with a fresh random pad, so the bytes on the page change on
every response while the secret underneath stays the session's.
"""

from __future__ import annotations

import base64
import binascii
import secrets

SECRET_BYTES = 24


def new_secret() -> str:
    """A session's secret: 32 URL-safe characters (192 random bits)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def mask(secret: str) -> str:
    """A token for one page: a fresh pad, then the secret XOR-ed with it, base64url."""
    raw = secret.encode("ascii")
    pad = secrets.token_bytes(len(raw))
    return base64.urlsafe_b64encode(pad + _xor(pad, raw)).rstrip(b"=").decode("ascii")


def unmask(token: str) -> str | None:
    """The secret under a masked token, or None when it is not one."""
    try:
        data = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    if not data or len(data) % 2:
        return None
    half = len(data) // 2
    return _xor(data[:half], data[half:]).decode("latin-1")


def accepts(sent: object, secret: str) -> bool:
    """Whether a form's ``csrf_token`` proves it came from a page of this session.

    The bare secret is taken too: a page rendered before tokens were masked carries it, and it
    proves no less than a masked one (anyone who knows it can mask it).
    """
    if not isinstance(sent, str) or not sent.isascii():
        return False
    unmasked = unmask(sent) if len(sent) != len(secret) else sent
    return unmasked is not None and secrets.compare_digest(
        unmasked.encode("latin-1"), secret.encode("ascii")
    )
