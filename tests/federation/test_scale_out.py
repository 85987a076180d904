"""Two API processes on one PostgreSQL database never deliver a message twice."""

from __future__ import annotations

import pytest

from tests.support.cluster import Cluster, every_item, second_process, wait_until

COUNT = 150


@pytest.mark.parametrize("cluster", ["postgresql"], indirect=True)
def test_two_processes_on_one_database_deliver_each_message_once(cluster: Cluster) -> None:
    a = cluster.add_node("a", ["unhcr", "ilo"])
    b = cluster.add_node("b", ["iom"])
    cluster.publish()
    cluster.start()
    twin = second_process(cluster, a)
    twin.start()
    try:
        twin.wait_ready()
        # Several channels, so both processes have work to claim at once.
        with a.api("unhcr") as api:
            api.post("/v1/federation/pings", json={"to": "iom", "count": COUNT})
        with a.api("ilo") as api:
            api.post("/v1/federation/pings", json={"to": "iom", "count": COUNT})

        def settled() -> bool:
            total = 0
            for agency in ("unhcr", "ilo"):
                with a.api(agency) as api:
                    total += api.get("/v1/federation/outbox/summary").json()["delivered"]
            return total == 2 * COUNT

        wait_until(settled, timeout=120, what="both channels delivered")
    finally:
        twin.stop()
    with b.api("iom") as api:
        inbox = sorted(
            every_item(api, "/v1/federation/inbox"),
            key=lambda m: m["position"],
        )
    assert len(inbox) == 2 * COUNT
    for agency in ("unhcr", "ilo"):
        with a.api(agency) as api:
            sent = every_item(api, "/v1/federation/outbox")[::-1]
        assert {m["attempts"] for m in sent} == {1}, "a message was attempted twice"
        arrived = [m["message_id"] for m in inbox if m["sender"] == agency]
        assert arrived == [m["message_id"] for m in sent], f"{agency}'s messages out of order"
