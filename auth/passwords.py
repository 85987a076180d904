"""Secrets at rest: people's passwords with Argon2id, API client secrets with SHA-256.

A person's password is low-entropy and needs a slow, memory-hard hash (Argon2id; its
parameters come from settings, by default argon2-cffi's, RFC 9106's second recommended option).
A client secret is 256 random bits generated here; no dictionary can guess it, so a fast hash
is enough and keeps the token endpoint cheap.

Hashing and verifying a password take (with the default parameters) a tenth of a second of CPU
and 64 MiB each, so they run on threads of their own: on the event loop, one sign-in would
stall every other request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache, cached_property
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kit.settings import Settings

_T = TypeVar("_T")


#: Added to the nice value of the threads that hash: a hash is meant to be slow, not to be in
#: the way. When both want a core, the kernel runs the event loop first.
ARGON2_NICE = 10


@cache
def _argon2_threads() -> ThreadPoolExecutor:
    """A pool of its own, not the loop's shared one: it bounds the memory a burst of sign-ins
    can take (64 MiB per hash in flight) and leaves the shared threads, which the token endpoint
    and synchronous routes run on, free. Extra sign-ins queue as futures, holding no thread.
    Each hash keeps one core busy (argon2-cffi computes its lanes in turn), so one core is left
    to the event loop. Made on first use, not at import."""
    workers = max(1, min(4, (os.cpu_count() or 1) - 1))
    return ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="argon2", initializer=_yield_the_cpu
    )


def _yield_the_cpu() -> None:
    # Linux keeps a nice value per thread; elsewhere PRIO_PROCESS with a thread id would name a
    # process, so nothing is changed there.
    if sys.platform == "linux":
        thread = threading.get_native_id()
        with contextlib.suppress(OSError):
            nice = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + ARGON2_NICE))


async def _off_loop(work: Callable[..., _T], *args: str | None) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_argon2_threads(), work, *args)


class Passwords:
    """Hashes and checks people's passwords with the node's Argon2id parameters.

    A hash carries the parameters it was made with, so one made under other parameters still
    verifies; :meth:`needs_rehash` says so, and sign-in then stores a new hash.
    """

    def __init__(self, *, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Passwords:
        return cls(
            time_cost=settings.password_time_cost,
            memory_cost=settings.password_memory_cost_kib,
            parallelism=settings.password_parallelism,
        )

    @property
    def parameters(self) -> tuple[int, int, int]:
        """(time cost, memory cost in KiB, parallelism)."""
        hasher = self._hasher
        return hasher.time_cost, hasher.memory_cost, hasher.parallelism

    @cached_property
    def _dummy_hash(self) -> str:
        """Checked when the account does not exist, so a miss costs as much as a hit and
        response times do not reveal which e-mail addresses have accounts. Made on first use,
        with these parameters (a hit costs what they cost)."""
        return self._hasher.hash("accord-dummy-password")

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            verified = self._hasher.verify(password_hash or self._dummy_hash, password)
            return verified and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def hash(self, password: str) -> str:
        return await _off_loop(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await _off_loop(self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        # Parses the parameters in the hash; no hashing, so it may stay on the loop.
        return self._hasher.check_needs_rehash(password_hash)


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
