"""Secrets at rest: people's passwords with Argon2id, API client secrets with SHA-256.

A person's password is low-entropy and needs a slow, memory-hard hash (Argon2id, RFC 9106
defaults from argon2-cffi). A client secret is 256 random bits generated here; no dictionary
can guess it, so a fast hash is enough and keeps the token endpoint cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Checked when the account does not exist, so a miss costs as much as a hit and response
    times do not reveal which e-mail addresses have accounts. Made on first use, not at import.
    """
    return _hasher.hash("accord-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        verified = _hasher.verify(password_hash or _dummy_hash(), password)
        return verified and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(secret_hash: str | None, secret: str) -> bool:
    if not secret_hash:
        return False
    return hmac.compare_digest(secret_hash, hash_secret(secret))


def new_password() -> str:
    """A generated first password: 20 characters from a 64-symbol alphabet (120 bits)."""
    return secrets.token_urlsafe(15)
