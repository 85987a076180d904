"""Three nodes sign one agreement; a suspension at one party refuses disclosures at all three."""

from __future__ import annotations

from tests.support.agreements import terms
from tests.support.cluster import Cluster, wait_until


def _view(node, agency, agreement_id):
    with node.api(agency) as api:
        response = api.get(f"/v1/agreements/{agreement_id}")
    return response.json() if response.status_code == 200 else None


def _decision(node, agency, agreement_id, recipient):
    with node.api(agency) as api:
        return api.post(
            f"/v1/agreements/{agreement_id}/decisions",
            json={
                "recipient": recipient,
                "purpose": "avrr-counselling",
                "categories": ["identity"],
            },
        ).json()


def test_three_nodes_sign_one_agreement_and_a_suspension_reaches_all(cluster: Cluster) -> None:
    nodes = {
        "unhcr": cluster.add_node("a", ["unhcr"]),
        "iom": cluster.add_node("b", ["iom", "ilo"]),
        "gov-de": cluster.add_node("c", ["gov-de"]),
    }
    cluster.publish()
    cluster.start()
    parties = ["unhcr", "iom", "gov-de"]
    body = terms(parties, legal_basis="public_interest")
    with nodes["unhcr"].api("unhcr") as api:
        drafted = api.post("/v1/agreements", json=body)
        assert drafted.status_code == 201, drafted.text
        agreement_id = drafted.json()["id"]
        digest = api.post(f"/v1/agreements/{agreement_id}/propose").json()["digest"]
    for party in parties:
        wait_until(
            lambda p=party: (_view(nodes[p], p, agreement_id) or {}).get("digest") == digest,
            what=f"the proposal at {party}",
        )
        with nodes[party].api(party) as api:
            signed = api.post(f"/v1/agreements/{agreement_id}/sign", json={"digest": digest})
            assert signed.status_code == 200, signed.text

    def active_everywhere() -> bool:
        for party in parties:
            view = _view(nodes[party], party, agreement_id)
            if not view or view["status"] != "active" or len(view["signatures"]) != 3:
                return False
        return True

    wait_until(active_everywhere, what="active with three signatures at every node")
    for party in parties:
        view = _view(nodes[party], party, agreement_id)
        assert all(s["verified"] for s in view["signatures"]), party
        assert view["digest"] == digest
    assert _decision(nodes["unhcr"], "unhcr", agreement_id, "iom")["allowed"] is True

    with nodes["gov-de"].api("gov-de") as api:
        api.post(f"/v1/agreements/{agreement_id}/suspend", json={"reason": "audit finding"})

    def refused_everywhere() -> bool:
        return all(
            "agreement_suspended"
            in [
                r["code"]
                for r in _decision(nodes[p], p, agreement_id, "unhcr" if p != "unhcr" else "iom")[
                    "reasons"
                ]
            ]
            for p in parties
        )

    wait_until(refused_everywhere, what="the suspension refusing at every node")
