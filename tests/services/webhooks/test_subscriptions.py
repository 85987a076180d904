"""Subscribing, listing, rotating and unsubscribing: a secret is shown once, never again,
and never stored in the clear."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from services.events import service as events
from services.webhooks.models import Webhook, WebhookDelivery

from .conftest import SQLITE_ONLY, Receiver, run

BODY = {"url": "http://127.0.0.1:9/in", "event_types": ["consent.given", "consent.withdrawn"]}


async def _event(app, consent_id: str) -> None:
    async with app.state.db.sessions.begin() as session:
        await events.append(
            session, agency="unhcr", type="consent.given", data={"consent_id": consent_id}
        )


async def test_a_secret_is_shown_once_and_never_again(
    app, client: httpx.AsyncClient, admin: dict[str, str]
):
    made = await client.post("/v1/webhooks", json=BODY, headers=admin)
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    hook = made.json()
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 64
    assert hook["agency"] == "unhcr"
    assert hook["event_types"] == ["consent.given", "consent.withdrawn"]

    listed = await client.get("/v1/webhooks", headers=admin)
    assert [item["id"] for item in listed.json()["items"]] == [hook["id"]]
    assert "secret" not in listed.json()["items"][0]
    deliveries = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=admin)
    for response in (listed, deliveries):
        assert secret.removeprefix("whsec_") not in response.text
    async with app.state.db.sessions() as session:
        row = (await session.scalars(select(Webhook))).one()
    assert base64.b64decode(secret.removeprefix("whsec_")) not in row.secret_wrapped
    assert secret.encode() not in row.secret_wrapped, "wrapped under the master key"

    rotated = await client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=admin)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != secret
    assert rotated.json()["previous_secret_until"] is not None
    listed_again = await client.get("/v1/webhooks", headers=admin)
    assert rotated.json()["secret"].removeprefix("whsec_") not in listed_again.text


@SQLITE_ONLY
async def test_after_a_rotation_deliveries_verify_with_the_old_secret_and_the_new(
    app, client: httpx.AsyncClient, admin: dict[str, str], worker, receiver: Receiver, clock
):
    hook = (await client.post("/v1/webhooks", json=BODY, headers=admin)).json()
    new = (await client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=admin)).json()
    await _event(app, "c-1")
    await run(worker)

    [arrived] = receiver.received
    assert len(arrived.headers["webhook-signature"].split(" ")) == 2
    for secret in (hook["secret"], new["secret"]):
        assert Verifier(secret).verify(arrived.body, arrived.headers)["data"] == {
            "consent_id": "c-1"
        }

    # Once the overlap (24 h) is over, only the new secret signs.
    clock.advance(hours=25)
    await _event(app, "c-2")
    await run(worker)
    later = receiver.received[-1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    tampered = later.body.replace(b"c-2", b"c-3")
    with pytest.raises(WebhookVerificationError):
        Verifier(new["secret"]).verify(tampered, later.headers)
    assert json.loads(later.body)["data"] == {"consent_id": "c-2"}


@SQLITE_ONLY
async def test_unknown_event_types_and_bad_urls_are_refused_in_words(
    client: httpx.AsyncClient, admin: dict[str, str]
):
    unknown = await client.post(
        "/v1/webhooks",
        json={"url": BODY["url"], "event_types": ["referral.sent", "referral.teleported"]},
        headers=admin,
    )
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["errors"][0]["location"] == "body.event_types"
    assert "`webhooks`" in unknown.json()["detail"]
    for url in ("ftp://example.org/in", "https://user:pw@example.org/in", "not a url"):
        refused = await client.post(
            "/v1/webhooks", json={"url": url, "event_types": ["referral.sent"]}, headers=admin
        )
        assert refused.status_code == 422, url
        assert refused.json()["errors"][0]["location"] == "body.url"
    listed = await client.get("/v1/webhooks", headers=admin)
    assert listed.json()["items"] == [], "nothing half-made"


@SQLITE_ONLY
async def test_an_unsubscribed_webhook_gets_nothing_more(
    app, client: httpx.AsyncClient, admin: dict[str, str], worker, receiver: Receiver
):
    hook = (await client.post("/v1/webhooks", json=BODY, headers=admin)).json()
    receiver.status = 503
    await _event(app, "c-1")
    await run(worker)

    deleted = await client.delete(f"/v1/webhooks/{hook['id']}", headers=admin)
    assert deleted.status_code == 204
    receiver.status = 204
    await _event(app, "c-2")
    await run(worker)

    assert receiver.received == []
    assert (await client.get("/v1/webhooks", headers=admin)).json()["items"] == []
    async with app.state.db.sessions() as session:
        statuses = (await session.scalars(select(WebhookDelivery.status))).all()
    assert statuses == ["cancelled"]
    again = await client.delete(f"/v1/webhooks/{hook['id']}", headers=admin)
    assert again.status_code == 404
