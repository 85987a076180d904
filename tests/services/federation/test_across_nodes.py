"""Three nodes in one process, four agencies (two sharing a node), pings in every direction:
each outbox delivers everything once and each inbox holds exactly what was sent to it. (Moved
from tests/federation, where real nodes ran it: routing between nodes and within one is logic,
not wire; the test drives each delivery.)"""

from __future__ import annotations

from auth.scopes import ALL_ROLES
from tests.support.nodes import Nodes


async def test_three_nodes_exchange_in_every_direction(nodes: Nodes) -> None:
    at = {
        "unhcr": await nodes.add("a", ["unhcr"]),
        "iom": await nodes.add("b", ["iom", "ilo"]),
        "gov-de": await nodes.add("c", ["gov-de"]),
    }
    at["ilo"] = at["iom"]
    await nodes.publish()
    agencies = ["unhcr", "iom", "ilo", "gov-de"]
    admin = {agency: await at[agency].headers(agency, sorted(ALL_ROLES)) for agency in agencies}
    for sender in agencies:
        for recipient in agencies:
            if recipient != sender:
                queued = await at[sender].client.post(
                    "/v1/federation/pings",
                    json={"to": recipient, "count": 2},
                    headers=admin[sender],
                )
                assert queued.status_code == 202, queued.text

    await nodes.settle()
    for sender in agencies:
        summary = await at[sender].client.get(
            "/v1/federation/outbox/summary", headers=admin[sender]
        )
        assert (summary.json()["delivered"], summary.json()["pending"]) == (6, 0), sender
    for recipient in agencies:
        inbox = await at[recipient].client.get(
            "/v1/federation/inbox", params={"limit": 200}, headers=admin[recipient]
        )
        senders = [m["sender"] for m in inbox.json()["items"]]
        assert sorted(senders) == sorted(s for s in agencies if s != recipient for _ in range(2))
