"""The README's "verify a receipt yourself" snippet verifies a real delivery receipt with
nothing but the directory, the pinned root key, RFC 8785 and Ed25519, and refuses a forged
one."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature

from services import reference
from tests.support.referrals import Exchange


@pytest.fixture
def backend() -> str:
    # The snippet reads HTTP answers, the same on either backend.
    return "sqlite"


def _snippet() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", reference.README.read_text(), re.DOTALL)
    [code] = [b for b in blocks if b.startswith("# verify-receipt")]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace


async def test_the_readme_snippet_verifies_a_real_receipt(ex: Exchange) -> None:
    verify_receipt = _snippet()["verify_receipt"]
    draft = await ex.sent()
    headers = ex.people["unhcr_focal_point"]
    evidence = await ex.client.get(f"/v1/referrals/{draft['id']}/evidence", headers=headers)
    assert evidence.status_code == 200, evidence.text
    [signed] = evidence.json()["receipts"]
    directory = (await ex.client.get("/v1/directory", headers=headers)).json()
    root = (await ex.client.get("/v1/directory/root", headers=headers)).json()

    receipt = verify_receipt(signed, directory, root)
    assert receipt["by"] == "iom"
    assert receipt["message_id"]

    forged = copy.deepcopy(signed)
    forged["receipt"]["received_at"] = "2020-01-01T00:00:00Z"
    with pytest.raises(InvalidSignature):
        verify_receipt(forged, directory, root)
    moved = copy.deepcopy(directory)
    moved["members"][0]["node_url"] = "https://elsewhere.example"
    with pytest.raises(InvalidSignature):
        verify_receipt(signed, moved, root)
