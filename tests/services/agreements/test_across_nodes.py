"""Three nodes in one process sign one agreement; a suspension at one party refuses disclosures
at all three. (Moved from tests/federation, where real nodes ran it: what it tests is the
agreement protocol, not the wire; the test drives each delivery.)"""

from __future__ import annotations

from typing import Any

from auth.scopes import ALL_ROLES
from tests.support.agreements import terms
from tests.support.nodes import Node, Nodes


async def _view(node: Node, headers: dict[str, str], agreement_id: str) -> dict[str, Any]:
    response = await node.client.get(f"/v1/agreements/{agreement_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _decision(
    node: Node, headers: dict[str, str], agreement_id: str, recipient: str
) -> dict[str, Any]:
    response = await node.client.post(
        f"/v1/agreements/{agreement_id}/decisions",
        json={"recipient": recipient, "purpose": "avrr-counselling", "categories": ["identity"]},
        headers=headers,
    )
    return dict(response.json())


async def test_three_nodes_sign_one_agreement_and_a_suspension_reaches_all(nodes: Nodes) -> None:
    at = {
        "unhcr": await nodes.add("a", ["unhcr"]),
        "iom": await nodes.add("b", ["iom", "ilo"]),
        "gov-de": await nodes.add("c", ["gov-de"]),
    }
    await nodes.publish()
    parties = ["unhcr", "iom", "gov-de"]
    # Each agency's admin system, as `accord init` makes it: every role.
    admin = {party: await at[party].headers(party, sorted(ALL_ROLES)) for party in parties}
    body = terms(parties, legal_basis="public_interest")
    drafted = await at["unhcr"].client.post("/v1/agreements", json=body, headers=admin["unhcr"])
    assert drafted.status_code == 201, drafted.text
    agreement_id = drafted.json()["id"]
    proposed = await at["unhcr"].client.post(
        f"/v1/agreements/{agreement_id}/propose", headers=admin["unhcr"]
    )
    digest = proposed.json()["digest"]
    await nodes.settle()
    for party in parties:
        view = await _view(at[party], admin[party], agreement_id)
        assert view["digest"] == digest, f"the proposal at {party}"
        signed = await at[party].client.post(
            f"/v1/agreements/{agreement_id}/sign", json={"digest": digest}, headers=admin[party]
        )
        assert signed.status_code == 200, signed.text

    await nodes.settle()
    for party in parties:
        view = await _view(at[party], admin[party], agreement_id)
        assert view["status"] == "active", party
        assert len(view["signatures"]) == 3, party
        assert all(s["verified"] for s in view["signatures"]), party
        assert view["digest"] == digest
    decided = await _decision(at["unhcr"], admin["unhcr"], agreement_id, "iom")
    assert decided["allowed"] is True

    suspended = await at["gov-de"].client.post(
        f"/v1/agreements/{agreement_id}/suspend",
        json={"reason": "audit finding"},
        headers=admin["gov-de"],
    )
    assert suspended.status_code == 200, suspended.text
    await nodes.settle()
    for party in parties:
        recipient = "unhcr" if party != "unhcr" else "iom"
        decided = await _decision(at[party], admin[party], agreement_id, recipient)
        assert "agreement_suspended" in [r["code"] for r in decided["reasons"]], party
