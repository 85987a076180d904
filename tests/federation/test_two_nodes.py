"""Two real nodes on the wire: sealed for one node, opened there only, receipts held by the
sender, everything delivered once and in order, even across an outage. (Exchanges among three
nodes are logic, tested in one process: tests/services/federation/test_across_nodes.py.)"""

from __future__ import annotations

import json

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from contracts import envelope as env
from kit.db.engine import sync_url
from services.federation.models import OutboxMessage
from tests.support.cluster import Cluster, every_item, wait_until


def _outbox(node, agency):
    with node.api(agency) as api:
        return every_item(api, "/v1/federation/outbox")


def _inbox(node, agency):
    with node.api(agency) as api:
        return every_item(api, "/v1/federation/inbox")


def _all_delivered(node, agency, count):
    with node.api(agency) as api:
        summary = api.get("/v1/federation/outbox/summary").json()
    return summary["delivered"] == count and summary["pending"] == 0


def test_a_probe_sealed_on_one_node_opens_only_on_the_other(cluster: Cluster) -> None:
    a = cluster.add_node("a", ["unhcr"])
    b = cluster.add_node("b", ["iom", "ilo"])
    cluster.publish()
    cluster.start()
    with a.api("unhcr") as api:
        sent = api.post("/v1/federation/pings", json={"to": "iom", "count": 3, "probe": True})
        assert sent.status_code == 202, sent.text
    wait_until(lambda: _all_delivered(a, "unhcr", 3), what="delivery to iom")

    # B opened the probe (its handler refuses a probe it cannot open), and A holds B's
    # signed receipts, which verify against B's key in the directory.
    directory = json.loads(cluster.directory_path.read_text())
    from contracts.directory import verify_directory

    parsed = verify_directory(directory, cluster.root.public)
    for item in _outbox(a, "unhcr"):
        signed = env.SignedReceipt.model_validate(item["receipt"])
        key = parsed.member_key("iom", signed.signature.kid, at=signed.receipt.at)
        assert env.verify_receipt(signed, key).by == "iom"
    assert [m["type"] for m in _inbox(b, "iom")] == ["federation.ping"] * 3

    # Once B's receipt is in, A keeps the evidence and no sealed copy (DESIGN §4): what it
    # stored still verifies with A's published key.
    engine = create_engine(sync_url(a.database_url))
    with Session(engine) as session:
        stored = session.scalars(select(OutboxMessage)).all()
    engine.dispose()
    assert len(stored) == 3
    for message in stored:
        assert "sealed" not in message.envelope
        evidence = env.EnvelopeEvidence.model_validate(message.envelope)
        sender_key = parsed.member_key("unhcr", evidence.signature.kid, at=evidence.header.sent_at)
        env.verify(evidence, sender_key)


def test_a_node_down_for_a_while_receives_everything_in_order(cluster: Cluster) -> None:
    a = cluster.add_node("a", ["unhcr"])
    b = cluster.add_node("b", ["iom"])
    cluster.publish()
    cluster.start()
    b.process.stop()
    with a.api("unhcr") as api:
        ids = api.post("/v1/federation/pings", json={"to": "iom", "count": 20}).json()[
            "message_ids"
        ]
    wait_until(
        lambda: any(m["attempts"] >= 2 for m in _outbox(a, "unhcr")), what="retries while down"
    )
    assert all(m["status"] == "pending" for m in _outbox(a, "unhcr"))
    b.process.start()
    b.process.wait_ready()
    wait_until(lambda: _all_delivered(a, "unhcr", 20), timeout=60, what="delivery after outage")
    received = sorted(_inbox(b, "iom"), key=lambda m: m["position"])
    assert [m["message_id"] for m in received] == ids
