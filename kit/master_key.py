"""The node master key: the one secret that unlocks every private key and data key at rest.

It comes from the environment or a key file, never from the database, so a stolen database dump
holds only ciphertext. A development node (``ACCORD_ENV=dev``) without one gets a key file
generated under ./var, so the demo and a laptop need no setup; production refuses to start.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from contracts.at_rest import unwrap_secret, wrap_secret
from kit.settings import Settings

MASTER_KEY_BYTES = 32


class MasterKeyMissing(RuntimeError):
    pass


def _decode(text: str, origin: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except ValueError as exc:
        raise MasterKeyMissing(f"{origin} is not base64url") from exc
    if len(key) != MASTER_KEY_BYTES:
        raise MasterKeyMissing(f"{origin} must decode to {MASTER_KEY_BYTES} bytes")
    return key


def generate_master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).rstrip(b"=").decode()


def load_master_key(settings: Settings) -> bytes:
    if settings.master_key is not None:
        return _decode(settings.master_key.get_secret_value(), "ACCORD_MASTER_KEY")
    if settings.master_key_file is not None:
        return _decode(settings.master_key_file.read_text(), str(settings.master_key_file))
    if settings.env != "dev":
        raise MasterKeyMissing(
            "no master key: set ACCORD_MASTER_KEY or ACCORD_MASTER_KEY_FILE "
            "(generate one with `python -c 'import secrets,base64;"
            "print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'`)"
        )
    return _decode(_dev_key_file(settings).read_text(), "the development master key file")


def _dev_key_file(settings: Settings) -> Path:
    path = settings.var_dir / "dev-master.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_master_key())
    return path


def wrap(master_key: bytes, secret: bytes, context: bytes) -> bytes:
    """AES-256-GCM under the master key, bound to ``context`` (see contracts.keys)."""
    return wrap_secret(master_key, secret, context)


def unwrap(master_key: bytes, wrapped: bytes, context: bytes) -> bytes:
    return unwrap_secret(master_key, wrapped, context)
