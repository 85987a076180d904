"""A referral's own data key: what each side's copy of a person's data under one referral is
sealed under (the recipient's received categories, the sender's results and decline reason).

Erasing a referral destroys this key (``data_key_wrapped`` set to null) and the sealed rows
with it. A database backup taken before the erasure still holds the wrapped key and the
ciphertext, and the master key opens them: what is erased stays in backups until they expire
(README, "What an erasure covers").
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from contracts.at_rest import new_data_key, open_at_rest, seal_at_rest
from kit.master_key import unwrap, wrap


class ReferralVault:
    def __init__(self, row_id: uuid.UUID, key: bytes) -> None:
        self.row_id = row_id
        self.key = key

    def _context(self, slot: str) -> bytes:
        return f"accord/referral/{self.row_id}/{slot}".encode()

    def seal(self, slot: str, value: Any) -> bytes:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return seal_at_rest(self.key, text.encode(), self._context(slot))

    def open(self, slot: str, sealed: bytes) -> Any:
        return json.loads(open_at_rest(self.key, sealed, self._context(slot)))


def _key_context(row_id: uuid.UUID) -> bytes:
    return f"accord/referral-key/{row_id}".encode()


def new_vault(master_key: bytes, row_id: uuid.UUID) -> tuple[ReferralVault, bytes]:
    key = new_data_key()
    return ReferralVault(row_id, key), wrap(master_key, key, _key_context(row_id))


def open_vault(master_key: bytes, row_id: uuid.UUID, wrapped: bytes) -> ReferralVault:
    return ReferralVault(row_id, unwrap(master_key, wrapped, _key_context(row_id)))


def vault_for(master_key: bytes, row: Any) -> ReferralVault:
    """The row's vault, making its data key on first use (a sender's row has none until
    something about the person comes back to it)."""
    if row.data_key_wrapped is not None:
        return open_vault(master_key, row.id, row.data_key_wrapped)
    vault, row.data_key_wrapped = new_vault(master_key, row.id)
    return vault
