"""Secrets at rest: private keys and data keys wrapped under the node master key, and data
sealed under a data key (AES-256-GCM, NIST SP 800-38D). Each carries a ``context`` as associated
data, so a ciphertext copied onto another row, or into another slot, does not open there.

Erasing a wrapped data key makes everything sealed under it unreadable: crypto-shredding
(DESIGN §4), for as long as no copy of the wrapped key survives (a backup keeps one).
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.keys import UnwrapFailed

__all__ = [
    "DATA_KEY_BYTES",
    "MASTER_KEY_BYTES",
    "new_data_key",
    "open_at_rest",
    "seal_at_rest",
    "unwrap_secret",
    "wrap_secret",
]

MASTER_KEY_BYTES: Final = 32
DATA_KEY_BYTES: Final = 32
_GCM_NONCE_BYTES: Final = 12


def _gcm_seal(key: bytes, plaintext: bytes, context: bytes, what: str) -> bytes:
    if len(key) != 32:
        raise ValueError(f"the {what} must be 32 bytes (AES-256)")
    # A random 96-bit nonce per message (NIST SP 800-38D §8.2.2); each data key seals little,
    # and the master key wraps one key per row, far below the 2^32 messages bound.
    nonce = os.urandom(_GCM_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def _gcm_open(key: bytes, sealed: bytes, context: bytes, what: str) -> bytes:
    if len(key) != 32:
        raise ValueError(f"the {what} must be 32 bytes (AES-256)")
    if len(sealed) < _GCM_NONCE_BYTES + 16:
        raise UnwrapFailed("too short to be AES-GCM output")
    try:
        return AESGCM(key).decrypt(sealed[:_GCM_NONCE_BYTES], sealed[_GCM_NONCE_BYTES:], context)
    except InvalidTag as exc:
        raise UnwrapFailed(
            f"could not decrypt with this {what}: wrong key, wrong context or altered bytes"
        ) from exc


def wrap_secret(master_key: bytes, secret: bytes, context: bytes) -> bytes:
    """Encrypt a private key or data key under the node master key (AES-256-GCM).

    Output is ``nonce (12) || ciphertext || tag (16)``, the layout of
    ``kit.master_key.wrap``. ``context`` (e.g. ``b"accord/key/" + kid``) is the associated
    data, so a wrapped secret copied onto another row does not unwrap.
    """
    return _gcm_seal(master_key, secret, context, "master key")


def unwrap_secret(master_key: bytes, wrapped: bytes, context: bytes) -> bytes:
    """Inverse of :func:`wrap_secret`; raises :class:`UnwrapFailed`."""
    return _gcm_open(master_key, wrapped, context, "master key")


def new_data_key() -> bytes:
    """A fresh AES-256 key for one referral's (or case's) data at rest.

    Stored only wrapped under the master key; erasing that wrapped key makes every ciphertext
    sealed under it unreadable (crypto-shredding, DESIGN §4).
    """
    return os.urandom(DATA_KEY_BYTES)


def seal_at_rest(data_key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """AES-256-GCM under a data key; ``context`` (e.g. referral id and category) is the AAD."""
    return _gcm_seal(data_key, plaintext, context, "data key")


def open_at_rest(data_key: bytes, sealed: bytes, context: bytes) -> bytes:
    """Inverse of :func:`seal_at_rest`; raises :class:`UnwrapFailed`."""
    return _gcm_open(data_key, sealed, context, "data key")
