"""Case content sealed under a per-case data key, bound to its case and its slot."""

from __future__ import annotations

import uuid

import pytest

from contracts.keys import UnwrapFailed
from services.cases.sealing import data_slot, new_vault, open_vault

MASTER = bytes(range(32))
VALUE = {"names": {"given_names": "Amina"}}


def test_a_sealed_value_opens_with_the_case_key_unwrapped_by_the_master_key() -> None:
    case_id = uuid.uuid4()
    vault, wrapped = new_vault(MASTER, case_id)
    sealed = vault.seal(data_slot("identity"), VALUE)
    assert b"Amina" not in sealed
    assert vault.key not in wrapped
    assert open_vault(MASTER, case_id, wrapped).open(data_slot("identity"), sealed) == VALUE


def test_a_sealed_category_does_not_open_as_another_category() -> None:
    vault, _ = new_vault(MASTER, uuid.uuid4())
    sealed = vault.seal(data_slot("identity"), VALUE)
    with pytest.raises(UnwrapFailed):
        vault.open(data_slot("contact"), sealed)


def test_a_wrapped_case_key_does_not_unwrap_for_another_case() -> None:
    _, wrapped = new_vault(MASTER, uuid.uuid4())
    with pytest.raises(UnwrapFailed):
        open_vault(MASTER, uuid.uuid4(), wrapped)


def test_every_case_has_its_own_key() -> None:
    first, _ = new_vault(MASTER, uuid.uuid4())
    second, _ = new_vault(MASTER, uuid.uuid4())
    assert first.key != second.key
