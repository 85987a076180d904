"""A node killed with SIGKILL in the middle of 200 deliveries loses none and applies none twice.

The default run repeats the kill 3 times, alternating which node dies; the `slow` marker runs
it 20 times (`make test-slow`).
"""

from __future__ import annotations

import os

import pytest

from tests.support.cluster import Cluster, every_item, wait_until

MESSAGES = 200


def _delivered(node, agency) -> int:
    with node.api(agency) as api:
        return int(api.get("/v1/federation/outbox/summary").json()["delivered"])


def _received(node, agency) -> list[dict]:
    with node.api(agency) as api:
        return every_item(api, "/v1/federation/inbox")


def _kill_loop(cluster: Cluster, rounds: int) -> None:
    a = cluster.add_node("a", ["unhcr"])
    b = cluster.add_node("b", ["iom"])
    cluster.publish()
    cluster.start()
    expected: list[str] = []
    for round_ in range(rounds):
        with a.api("unhcr") as api:
            expected += api.post(
                "/v1/federation/pings", json={"to": "iom", "count": MESSAGES}
            ).json()["message_ids"]
        victim = a if round_ % 2 == 0 else b
        total = len(expected)
        # Kill once a quarter of this round is delivered: mid-flight, not before it starts.
        under_way = total - MESSAGES + MESSAGES // 4
        wait_until(
            lambda floor=under_way: _delivered(a, "unhcr") >= floor,
            timeout=120,
            what="deliveries under way",
        )
        victim.process.kill()
        victim.process.start()
        victim.process.wait_ready()
        wait_until(
            lambda everything=total: _delivered(a, "unhcr") == everything,
            timeout=120,
            what="every message delivered after the kill",
        )
        received = sorted(_received(b, "iom"), key=lambda m: m["position"])
        assert [m["message_id"] for m in received] == expected, (
            f"round {round_}: lost, duplicated or reordered messages"
        )


def test_sigkill_mid_delivery_loses_nothing_and_duplicates_nothing(
    cluster: Cluster, backend_name: str
) -> None:
    # Three kills on SQLite (the CI requirement), one on PostgreSQL to cover its driver too.
    default = "3" if backend_name == "sqlite" else "1"
    _kill_loop(cluster, rounds=int(os.environ.get("ACCORD_KILL_ROUNDS", default)))


@pytest.mark.slow
@pytest.mark.parametrize("cluster", ["sqlite"], indirect=True)
def test_sigkill_twenty_times(cluster: Cluster) -> None:
    _kill_loop(cluster, rounds=20)
