"""The outbox delivers each message once, in order, with the recipient's signed receipt, and
keeps trying, with backoff, while the recipient cannot be reached."""

from __future__ import annotations

from sqlalchemy import func, select

from contracts import envelope as env
from kit.db.base import utcnow
from services.federation.models import InboxMessage, OutboxChannel, OutboxMessage
from services.federation.outbox import DeliveryWorker, send
from tests.support.identity import bearer, client_token, seed_client


async def _admin(app, client, agency="unhcr"):
    return bearer(await client_token(client, await seed_client(app, agency)))


async def test_pings_between_agencies_of_one_node_arrive_once_in_order(app, client, federated):
    headers = await _admin(app, client)
    queued = await client.post(
        "/v1/federation/pings", json={"to_agency": "iom", "count": 5}, headers=headers
    )
    assert queued.status_code == 202, queued.text
    assert queued.json()["to_agency"] == "iom"
    ids = queued.json()["message_ids"]

    worker = DeliveryWorker(app.state.federation)
    assert await worker.deliver_round() == 5
    assert await worker.deliver_round() == 0, "nothing is delivered twice"

    outbox = (await client.get("/v1/federation/outbox", headers=headers)).json()["items"]
    assert {m["status"] for m in outbox} == {"delivered"}
    iom_headers = await _admin(app, client, "iom")
    inbox = (await client.get("/v1/federation/inbox", headers=iom_headers)).json()["items"]
    assert [m["message_id"] for m in sorted(inbox, key=lambda m: m["position"])] == ids
    directory = app.state.federation.directory.require()
    for item in outbox:
        signed = env.SignedReceipt.model_validate(item["receipt"])
        key = directory.member_key("iom", signed.signature.kid, at=signed.receipt.at)
        assert env.verify_receipt(signed, key).by == "iom"


async def test_a_message_leaves_only_if_its_transaction_commits(app, client, federated) -> None:
    async with app.state.db.sessions() as session:
        await send(
            session,
            app.state.federation,
            sender="unhcr",
            recipient="iom",
            type="federation.ping",
            body={"seq": 1},
        )
        await session.rollback()
    async with app.state.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_an_unreachable_recipient_is_retried_with_backoff(
    app, client, federated, outsider
) -> None:
    """The outsider's node (port 9) does not answer: the message waits, nothing is lost."""
    async with app.state.db.sessions.begin() as session:
        for seq in range(3):
            await send(
                session,
                app.state.federation,
                sender="unhcr",
                recipient="ngo-x",
                type="federation.ping",
                body={"seq": seq},
            )
    worker = DeliveryWorker(app.state.federation)
    before = utcnow()
    assert await worker.deliver_round() == 0
    async with app.state.db.sessions() as session:
        channel = await session.get(OutboxChannel, ("unhcr", "ngo-x"))
        statuses = (await session.scalars(select(OutboxMessage.status))).all()
        attempts = (await session.scalars(select(OutboxMessage.attempts))).all()
    assert channel.failures == 1
    assert channel.next_attempt_at > before, "the channel backs off"
    assert channel.lease_owner is None
    assert set(statuses) == {"pending"}
    assert sorted(attempts) == [0, 0, 1], "only the head of the queue was tried"


async def test_the_recipient_applies_a_retried_message_once(app, client, federated) -> None:
    """The receipt got lost: the worker tries again, the recipient answers with its receipt."""
    async with app.state.db.sessions.begin() as session:
        envelope = await send(
            session,
            app.state.federation,
            sender="unhcr",
            recipient="iom",
            type="federation.ping",
            body={"seq": 1},
        )
    worker = DeliveryWorker(app.state.federation)
    first = await worker._attempt(await _row(app, envelope.header.id))
    second = await worker._attempt(await _row(app, envelope.header.id))
    assert first == second
    async with app.state.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(InboxMessage)) == 1


async def _row(app, message_id):
    async with app.state.db.sessions() as session:
        return (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.message_id == message_id)
            )
        ).one()


async def test_a_ping_names_its_recipient_to_agency_as_a_referral_does(app, client, federated):
    headers = await _admin(app, client)
    older = await client.post("/v1/federation/pings", json={"to": "iom"}, headers=headers)
    assert older.status_code == 202, "the older name `to` is still accepted"
    assert older.json()["to_agency"] == "iom"
    unknown = await client.post(
        "/v1/federation/pings", json={"to_agency": "nobody"}, headers=headers
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["location"] == "body.to_agency"
    schema = app.openapi()["components"]["schemas"]["PingRequest"]
    assert "to_agency" in schema["properties"]
    assert "to" not in schema["properties"]
