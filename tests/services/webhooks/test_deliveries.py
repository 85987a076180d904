"""Webhooks per Standard Webhooks, driven by the event log (DESIGN §8, §10): what committed
arrives, signed, exactly once per subscription, however long the receiver is away; what
rolled back never existed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import delete, select
from standardwebhooks import Webhook as Verifier

from kit.db.base import new_id
from services.events import repository as event_rows
from services.events import service as events
from services.events.models import Event
from services.events.types import DATA_MODELS, kind_of
from services.referrals import service as referrals
from services.webhooks.models import WebhookDelivery
from tests.support.cases import system_principal
from tests.support.referrals import Exchange

from .conftest import SQLITE_ONLY, Clock, Receiver, run

REFERRAL_TYPES = [
    "referral.pending_approval",
    "referral.approved",
    "referral.sent",
    "referral.accepted",
    "referral.completed",
]


async def subscribe(ex: Exchange, types: list[str], url: str = "http://127.0.0.1:9/in") -> dict:
    response = await ex.client.post(
        "/v1/webhooks",
        json={"url": url, "event_types": types},
        headers=ex.people["unhcr_admin"],
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _answer(ex: Exchange, referral_id: str, verb: str, **body) -> None:
    response = await ex.client.post(
        f"/v1/referrals/{referral_id}/{verb}",
        json=body or None,
        headers=ex.people["iom_focal_point" if verb != "complete" else "iom_counsellor"],
    )
    assert response.status_code == 200, response.text
    await ex.deliver()


async def _deliveries(ex: Exchange, hook: dict, status: str | None = None) -> list[dict]:
    response = await ex.client.get(
        f"/v1/webhooks/{hook['id']}/deliveries",
        params={"status": status} if status else {},
        headers=ex.people["unhcr_admin"],
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_referral_lifecycles_events_arrive_signed_and_verify_with_standardwebhooks(
    ex: Exchange, worker, receiver: Receiver
):
    hook = await subscribe(ex, REFERRAL_TYPES)
    sent = await ex.sent()
    await _answer(ex, sent["id"], "accept")
    await _answer(ex, sent["id"], "complete", outcome="decided_to_return")

    await run(worker)

    verifier = Verifier(hook["secret"])
    bodies = [verifier.verify(r.body, r.headers) for r in receiver.received]
    assert [b["type"] for b in bodies] == REFERRAL_TYPES
    assert all(b["data"]["referral_id"] == sent["id"] for b in bodies)
    for body in bodies:
        assert set(body) == {"type", "timestamp", "data"}
        DATA_MODELS[kind_of(body["type"])].model_validate(body["data"])
    # The body is exactly the event the feed serves, its id in the webhook-id's place.
    feed = (
        await ex.client.get(
            "/v1/events",
            params={"types": ",".join(REFERRAL_TYPES)},
            headers=ex.people["unhcr_admin"],
        )
    ).json()["items"]
    assert [{k: v for k, v in item.items() if k != "id"} for item in feed] == bodies
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(set(ids)) == len(ids)
    assert await run(worker) == 0, "nothing is sent twice"
    assert len(receiver.requests) == len(REFERRAL_TYPES)
    metrics = (await ex.client.get("/metrics")).text
    assert 'accord_webhook_attempts_total{outcome="delivered"} 5.0' in metrics


@SQLITE_ONLY
async def test_a_receiver_down_for_a_while_gets_everything_once_back(
    ex: Exchange, worker, receiver: Receiver, clock: Clock
):
    hook = await subscribe(ex, REFERRAL_TYPES)
    receiver.status = 503
    sent = await ex.sent()

    await run(worker)
    for _ in range(3):  # three hours down: each attempt fails, and is tried again later
        clock.advance(hours=1)
        await run(worker)
    tried = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(tried) == 3
    assert len(receiver.requests) == 3 * 4
    pending = await _deliveries(ex, hook, "pending")
    assert {d["last_error"] for d in pending} == {"http_503"}
    assert [d["attempts"] for d in pending] == [4, 4, 4]

    receiver.status = 200
    clock.advance(hours=1)
    await run(worker)

    # Each exactly once; after retries, in no promised order (Standard Webhooks promises none).
    assert sorted(json.loads(r.body)["type"] for r in receiver.received) == sorted(
        REFERRAL_TYPES[:3]
    )
    assert {r.headers["webhook-id"] for r in receiver.received} == tried, "same id on retries"
    assert all(
        r.body and json.loads(r.body)["data"]["referral_id"] == sent["id"]
        for r in receiver.received
    )
    assert await _deliveries(ex, hook, "pending") == []


@SQLITE_ONLY
async def test_a_delivery_fails_after_24_hours_and_an_admin_redelivers_it(
    ex: Exchange, worker, receiver: Receiver, clock: Clock
):
    hook = await subscribe(ex, ["referral.pending_approval"])
    receiver.status = 500
    await ex.draft()
    await run(worker)
    for _ in range(4):  # the backoff is at most an hour: each of these is an attempt
        clock.advance(hours=6)
        await run(worker)
    attempts = len(receiver.requests)
    assert attempts == 5, "the last one at the 24th hour"
    clock.advance(hours=6)
    await run(worker)
    assert len(receiver.requests) == attempts, "no attempt after it failed"

    [failed] = await _deliveries(ex, hook, "failed")
    assert failed["last_error"] == "http_500"
    assert failed["last_status"] == 500
    receiver.status = 204
    redelivered = await ex.client.post(
        f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver",
        headers=ex.people["unhcr_admin"],
    )
    assert redelivered.status_code == 200, redelivered.text
    assert redelivered.json()["status"] == "pending"
    again = await ex.client.post(
        f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver",
        headers=ex.people["unhcr_admin"],
    )
    assert again.status_code == 409, "still being attempted"
    await run(worker)

    [arrived] = receiver.received
    assert (
        arrived.headers["webhook-id"] == failed["id"] == receiver.requests[0].headers["webhook-id"]
    )
    assert await _deliveries(ex, hook, "failed") == []


@SQLITE_ONLY
async def test_a_rolled_back_change_sends_nothing(ex: Exchange, worker, receiver: Receiver):
    await subscribe(ex, ["referral.cancelled"])
    draft = await ex.draft()
    focal_point = system_principal("unhcr", roles={"focal_point"})

    async def cancel(fail: bool) -> None:
        async with ex.app.state.db.sessions.begin() as session:
            await referrals.cancel(
                session,
                federation=ex.app.state.federation,
                principal=focal_point,
                referral_id=draft["id"],
            )
            if fail:
                raise RuntimeError("the request failed after the change")

    with pytest.raises(RuntimeError):
        await cancel(fail=True)
    await run(worker)
    assert receiver.requests == []
    async with ex.app.state.db.sessions() as session:
        assert (await session.scalars(select(WebhookDelivery))).all() == []

    await cancel(fail=False)
    await run(worker)
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["referral.cancelled"]


async def test_an_event_that_commits_after_a_newer_one_is_still_delivered(
    ex: Exchange, worker, receiver: Receiver
):
    """Two transactions: the first appends its event, the second appends one and commits, the
    worker passes both ids' time; then the first commits. Its event is behind the cursor."""
    await subscribe(ex, ["consent.narrowed"])
    early_id = new_id()
    async with ex.app.state.db.sessions.begin() as session:
        await events.append(
            session, agency="unhcr", type="consent.narrowed", data={"consent_id": "later-one"}
        )
    await run(worker)
    assert [json.loads(r.body)["data"]["consent_id"] for r in receiver.received] == ["later-one"]

    async with ex.app.state.db.sessions.begin() as session:
        appended = await events.append(
            session, agency="unhcr", type="consent.narrowed", data={"consent_id": "late-one"}
        )
        appended_at = appended.timestamp
        # The log is appended with Core (no ORM identity): removed the same way.
        await session.execute(delete(Event).where(Event.id == appended.id))
        await event_rows.add(
            session,
            Event(
                id=early_id,
                agency="unhcr",
                type="consent.narrowed",
                timestamp=appended_at - timedelta(milliseconds=5),
                data={"consent_id": "late-one"},
            ),
        )
    await run(worker)

    assert [json.loads(r.body)["data"]["consent_id"] for r in receiver.received] == [
        "later-one",
        "late-one",
    ]
    assert await run(worker) == 0
