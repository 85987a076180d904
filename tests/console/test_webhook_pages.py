"""An admin sees their agency's webhook subscriptions and sends a failed delivery again from
the console (issue 18), audited as through the API; nobody else sees the page."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from kit.db.base import new_id, utcnow
from services.audit.models import AuditEvent
from services.webhooks.models import WebhookDelivery
from tests.support.console import signed_in, submit
from tests.support.federation import join
from tests.support.identity import SeededUser, seed_user
from tests.support.markers import sqlite_only
from tests.support.referrals import ROOT, person

pytestmark = sqlite_only

URL = "http://127.0.0.1:9/accord-events"


@pytest.fixture
async def admin(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> SeededUser:
    await join(app, tmp_path / "directory.json", ROOT, "http://testserver", ["unhcr", "iom"])
    return await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])


@pytest.fixture
async def failed(app: FastAPI, client: httpx.AsyncClient, admin: SeededUser) -> WebhookDelivery:
    """A subscription of UNHCR's (made through the API) whose one delivery failed for good."""
    hook = await client.post(
        "/v1/webhooks",
        json={"url": URL, "event_types": ["referral.sent", "referral.accepted"]},
        headers=await person(app, client, "unhcr", ["admin"]),
    )
    assert hook.status_code == 201, hook.text
    now = utcnow()
    delivery = WebhookDelivery(
        id=new_id(),
        webhook_id=uuid.UUID(hook.json()["id"]),
        agency="unhcr",
        event_id=new_id(),
        event_type="referral.sent",
        status="failed",
        attempts=17,
        next_attempt_at=now,
        retry_until=now - timedelta(minutes=5),
        last_status=503,
        last_error="http_503",
        last_attempt_at=now - timedelta(minutes=6),
        created_at=now - timedelta(hours=24),
    )
    async with app.state.db.sessions.begin() as session:
        session.add(delivery)
    return delivery


def _browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def _status(app: FastAPI, delivery: WebhookDelivery) -> str:
    async with app.state.db.sessions() as session:
        row = await session.get(WebhookDelivery, delivery.id)
        assert row is not None
        return row.status


async def test_a_failed_delivery_shows_and_redelivering_it_puts_it_back_to_pending(
    app: FastAPI, admin: SeededUser, failed: WebhookDelivery
) -> None:
    hook = failed.webhook_id
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        listed = await browser.get("/console/webhooks")
        assert listed.status_code == 200, listed.text
        assert '<a href="/console/webhooks" aria-current="page">Webhooks</a>' in listed.text
        assert f"<code>{URL}</code>" in listed.text
        assert "referral.accepted, referral.sent" in listed.text
        assert f'id="pending-{hook}">0<' in listed.text
        assert f'id="failed-{hook}"><a href="#webhook-{hook}">1</a>' in listed.text
        assert '<td data-label="Attempts">17</td>' in listed.text
        assert "<code>http_503</code>" in listed.text
        action = f"/console/webhooks/{hook}/deliveries/{failed.id}/redeliver"
        assert f'action="{action}"' in listed.text

        redelivered = await submit(browser, action, csrf)
        assert redelivered.status_code == 303, redelivered.text
        assert redelivered.headers["location"] == "/console/webhooks?done=redeliver"
        assert await _status(app, failed) == "pending"
        after = await browser.get(redelivered.headers["location"])
        assert "Sent again" in after.text
        assert f'id="pending-{hook}">1<' in after.text
        assert f'id="failed-{hook}">0<' in after.text
        assert action not in after.text

        again = await submit(browser, action, csrf)
        assert again.status_code == 409, "a pending delivery is not sent twice"
        assert "still being attempted" in again.text

    async with app.state.db.sessions() as session:
        audited = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "webhook.redelivered")
            )
        ).all()
    assert [(e.actor, e.detail) for e in audited] == [
        (f"user:{admin.id}", {"delivery_id": str(failed.id)})
    ]


async def test_a_non_admin_neither_sees_webhooks_nor_redelivers(
    app: FastAPI, admin: SeededUser, failed: WebhookDelivery
) -> None:
    focal = await seed_user(app, "unhcr", "focal@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, focal)
        home = await browser.get("/console")
        assert "/console/webhooks" not in home.text, "no menu entry"
        refused = await browser.get("/console/webhooks")
        assert refused.status_code == 403
        assert URL not in refused.text
        action = f"/console/webhooks/{failed.webhook_id}/deliveries/{failed.id}/redeliver"
        assert (await submit(browser, action, csrf)).status_code == 403
    assert await _status(app, failed) == "failed"
