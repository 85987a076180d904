"""Sealing case content under the case's data key (DESIGN §4 "At rest").

Every sealed value is bound to its case and its slot (``profile``, ``data/<category>``,
``consent/<id>/child_views``) as AES-GCM associated data, so ciphertext copied onto another
row, case or category fails to open instead of showing up in the wrong place.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from contracts.at_rest import new_data_key, open_at_rest, seal_at_rest
from kit.master_key import unwrap, wrap


def _key_context(case_id: uuid.UUID) -> bytes:
    return f"accord/case-key/{case_id}".encode()


@dataclass(frozen=True, slots=True)
class CaseVault:
    """The unwrapped data key of one case, held only for the request that needs it."""

    case_id: uuid.UUID
    key: bytes

    def _context(self, slot: str) -> bytes:
        return f"accord/case/{self.case_id}/{slot}".encode()

    def seal(self, slot: str, value: Any) -> bytes:
        plaintext = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return seal_at_rest(self.key, plaintext.encode(), self._context(slot))

    def open(self, slot: str, sealed: bytes) -> Any:
        return json.loads(open_at_rest(self.key, sealed, self._context(slot)))


def new_vault(master_key: bytes, case_id: uuid.UUID) -> tuple[CaseVault, bytes]:
    """A fresh data key for a new case, and its wrapped form to store."""
    key = new_data_key()
    return CaseVault(case_id, key), wrap(master_key, key, _key_context(case_id))


def open_vault(master_key: bytes, case_id: uuid.UUID, wrapped: bytes) -> CaseVault:
    return CaseVault(case_id, unwrap(master_key, wrapped, _key_context(case_id)))


def data_slot(category: str) -> str:
    return f"data/{category}"


PROFILE_SLOT = "profile"
