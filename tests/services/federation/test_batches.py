"""``POST /federation/v1/batches`` (DESIGN §4): each envelope of a batch is verified and stored
on its own, exactly as if sent alone, and answered in place, in order; only what makes the
batch itself invalid refuses the whole. The delivery worker sends a channel's due messages as
one batch, and one by one to a peer that does not take batches."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from auth.scopes import ALL_ROLES
from contracts import envelope as env
from kit.db.base import utcnow
from services.federation.models import FederationIncident, InboxMessage, OutboxMessage
from services.federation.outbox import send
from tests.services.federation.conftest import Outsider
from tests.support.nodes import Nodes


def _directory(app):
    return app.state.federation.directory.require()


def _batch(outsider: Outsider, envelopes: list[env.Envelope], **attempt_at: Any) -> bytes:
    return json.dumps(
        {
            "envelopes": [e.model_dump(mode="json") for e in envelopes],
            "attempts": [outsider.attempt(e, **attempt_at) for e in envelopes],
        }
    ).encode()


def _post(client: httpx.AsyncClient, body: bytes):
    return client.post(
        "/federation/v1/batches", content=body, headers={"Content-Type": "application/json"}
    )


async def _inbox(app) -> list[InboxMessage]:
    async with app.state.db.sessions() as session:
        return list(
            (await session.scalars(select(InboxMessage).order_by(InboxMessage.position))).all()
        )


def _pings(app, outsider: Outsider, count: int, to: str = "unhcr") -> list[env.Envelope]:
    return [outsider.envelope(_directory(app), to=to, body={"seq": seq}) for seq in range(count)]


async def test_a_batch_gets_a_signed_receipt_per_envelope_in_order(
    app, client, federated, outsider
) -> None:
    envelopes = _pings(app, outsider, 3)
    response = await _post(client, _batch(outsider, envelopes))
    assert response.status_code == 200, response.text
    receipts = [env.SignedReceipt.model_validate(r) for r in response.json()["receipts"]]
    for envelope, signed in zip(envelopes, receipts, strict=True):
        key = _directory(app).member_key("unhcr", signed.signature.kid, at=signed.receipt.at)
        receipt = env.verify_receipt(signed, key)
        assert isinstance(receipt, env.DeliveryReceipt)
        assert (receipt.message_id, receipt.digest, receipt.accepted) == (
            envelope.header.id,
            env.envelope_digest(envelope),
            True,
        )
    assert [m.message_id for m in await _inbox(app)] == [e.header.id for e in envelopes]


async def test_a_repeated_batch_changes_nothing_and_gets_the_same_receipts(
    app, client, federated, outsider
) -> None:
    envelopes = _pings(app, outsider, 3)
    first = await _post(client, _batch(outsider, envelopes))
    # A retry is a new delivery attempt of the same messages.
    again = await _post(client, _batch(outsider, envelopes))
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert len(await _inbox(app)) == 3
    # One of them alone is a repeat too.
    single = await outsider.post(client, envelopes[1])
    assert (single.status_code, single.json()) == (200, first.json()["receipts"][1])


async def test_one_refused_envelope_leaves_the_others_stored(
    app, client, federated, outsider
) -> None:
    accepted, unknown_type, forged, after = (
        outsider.envelope(_directory(app)),
        outsider.envelope(_directory(app), type="referral.teleported"),
        outsider.envelope(_directory(app)),
        outsider.envelope(_directory(app)),
    )
    body = json.loads(_batch(outsider, [accepted, unknown_type, forged, after]))
    body["envelopes"][2]["body"] = {"seq": 99}  # altered after signing
    response = await _post(client, json.dumps(body).encode())
    assert response.status_code == 200, response.text
    receipts = response.json()["receipts"]

    refusal = env.SignedReceipt.model_validate(receipts[1]).receipt
    assert isinstance(refusal, env.DeliveryReceipt)
    assert (refusal.message_id, refusal.accepted) == (unknown_type.header.id, False)
    assert [r.code for r in refusal.reasons] == ["unknown_message_type"]
    # Refused before it verified: the problem it would have got alone, in its place.
    assert receipts[2]["type"] == "/problems/bad-signature"
    assert (receipts[2]["status"], receipts[2]["retryable"]) == (403, False)
    assert env.SignedReceipt.model_validate(receipts[3]).receipt.message_id == after.header.id

    stored = {m.message_id: m.accepted for m in await _inbox(app)}
    assert stored == {
        accepted.header.id: True,
        unknown_type.header.id: False,
        after.header.id: True,
    }
    async with app.state.db.sessions() as session:
        kinds = (await session.scalars(select(FederationIncident.kind))).all()
    assert kinds == ["message-refused"], "anyone could forge a signature: no row for that"


async def test_a_refusal_that_may_pass_later_holds_back_the_rest_of_the_channel(
    app, client, federated, outsider
) -> None:
    first, stale, third = _pings(app, outsider, 3)
    body = json.loads(_batch(outsider, [first, stale, third]))
    body["attempts"][1] = outsider.attempt(stale, at=utcnow() - timedelta(hours=1))
    response = await _post(client, json.dumps(body).encode())
    assert response.status_code == 200, response.text
    receipts = response.json()["receipts"]
    assert env.SignedReceipt.model_validate(receipts[0]).receipt.message_id == first.header.id
    assert (receipts[1]["type"], receipts[1]["retryable"]) == (
        "/problems/stale-delivery-attempt",
        True,
    )
    assert (receipts[2]["type"], receipts[2]["retryable"]) == ("/problems/not-attempted", True)
    assert [m.message_id for m in await _inbox(app)] == [first.header.id]


async def test_more_than_100_envelopes_refuse_the_batch(app, client, federated, outsider) -> None:
    envelope = outsider.envelope(_directory(app))
    response = await _post(client, _batch(outsider, [envelope] * 101))
    assert response.status_code == 413, response.text
    assert response.json()["type"] == "/problems/batch-too-large"
    assert await _inbox(app) == []


async def test_a_batch_spanning_two_channels_is_refused(app, client, federated, outsider) -> None:
    to_unhcr = outsider.envelope(_directory(app), to="unhcr")
    to_iom = outsider.envelope(_directory(app), to="iom")
    response = await _post(client, _batch(outsider, [to_unhcr, to_iom]))
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "/problems/mixed-batch"
    assert await _inbox(app) == []


async def test_a_batch_without_an_attempt_per_envelope_is_malformed(
    app, client, federated, outsider
) -> None:
    body = json.loads(_batch(outsider, _pings(app, outsider, 2)))
    body["attempts"].pop()
    response = await _post(client, json.dumps(body).encode())
    assert (response.status_code, response.json()["type"]) == (400, "/problems/malformed-batch")
    response = await _post(client, b'{"envelopes": "none"}')
    assert (response.status_code, response.json()["type"]) == (400, "/problems/malformed-batch")
    assert await _inbox(app) == []


async def test_a_batch_larger_than_the_limit_is_refused(app, client, federated, outsider) -> None:
    federation = app.state.federation
    federation.settings = federation.settings.model_copy(
        update={"federation_max_batch_bytes": 1000}
    )
    response = await _post(client, _batch(outsider, _pings(app, outsider, 2)))
    assert (response.status_code, response.json()["type"]) == (413, "/problems/message-too-large")


async def _two_nodes(nodes: Nodes):
    a = await nodes.add("a", ["unhcr"])
    b = await nodes.add("b", ["iom"])
    await nodes.publish()
    admin = await a.headers("unhcr", sorted(ALL_ROLES))
    queued = await a.client.post(
        "/v1/federation/pings", json={"to": "iom", "count": 5}, headers=admin
    )
    assert queued.status_code == 202, queued.text
    return a, b, queued.json()["message_ids"]


async def _delivered(node) -> list[str]:
    async with node.app.state.db.sessions() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.position))
        return [m.message_id for m in rows.all() if m.status == "delivered"]


async def test_the_worker_sends_a_channel_s_due_messages_as_one_batch(nodes: Nodes) -> None:
    a, b, ids = await _two_nodes(nodes)
    paths: list[str] = []

    async def note(request: httpx.Request) -> None:
        paths.append(request.url.path)

    a.app.state.federation.http.event_hooks["request"].append(note)
    assert await a.deliver() == 5
    assert paths == ["/federation/v1/batches"]
    assert await _delivered(a) == ids
    assert [m.message_id for m in await _inbox(b.app)] == ids


async def test_a_peer_without_batches_is_sent_one_message_at_a_time(nodes: Nodes) -> None:
    a, b, ids = await _two_nodes(nodes)
    router = nodes.router
    paths: list[str] = []

    class OldNode(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            paths.append(request.url.path)
            if request.url.path == "/federation/v1/batches":
                return httpx.Response(404, json={"type": "about:blank", "status": 404})
            return await router.handle_async_request(request)

    federation = a.app.state.federation
    federation.http = httpx.AsyncClient(transport=OldNode())
    assert await a.deliver() == 5
    assert paths == ["/federation/v1/batches"] + ["/federation/v1/messages"] * 5
    assert await _delivered(a) == ids
    assert [m.message_id for m in await _inbox(b.app)] == ids
    paths.clear()
    await a.client.post(
        "/v1/federation/pings",
        json={"to": "iom", "count": 2},
        headers=await a.headers("unhcr", sorted(ALL_ROLES)),
    )
    assert await a.deliver() == 2
    assert paths == ["/federation/v1/messages"] * 2, "the node remembers, for a while"


async def test_committing_a_queued_message_wakes_the_worker(app, federated) -> None:
    federation = app.state.federation
    federation.wake.clear()
    async with app.state.db.sessions() as session, session.begin():
        await send(session, federation, sender="unhcr", recipient="iom", type="federation.ping")
        assert not federation.wake.is_set(), "not before it commits"
    assert federation.wake.is_set()
