"""A focal point's day in the console: what waits for them, a referral in full, and the actions
that move it, each confirmed before anything is sent."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.support.console import signed_in, submit
from tests.support.identity import seed_user
from tests.support.markers import sqlite_only
from tests.support.referrals import Exchange, exchange

pytestmark = sqlite_only


@pytest.fixture
async def ex(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> Exchange:
    return await exchange(app, client, tmp_path)


def _browser(app: FastAPI) -> httpx.AsyncClient:
    """A second cookie jar on the same app: one person's browser."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_a_focal_point_approves_a_draft_after_confirming(
    app: FastAPI, client: httpx.AsyncClient, ex: Exchange
) -> None:
    draft = await ex.draft()
    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, focal)
        home = await browser.get("/console")
        assert 'id="count-approve">1<' in home.text
        assert f"/console/referrals/{draft['id']}" in home.text

        detail = await browser.get(f"/console/referrals/{draft['id']}")
        assert detail.status_code == 200
        assert "pending approval" in detail.text
        assert ">Approve</button>" in detail.text

        asked = await submit(browser, f"/console/referrals/{draft['id']}/approve", csrf)
        assert asked.status_code == 200
        assert "Approve and send this referral?" in asked.text
        still = await ex.client.get(
            f"/v1/referrals/{draft['id']}", headers=ex.people["unhcr_caseworker"]
        )
        assert still.json()["status"] == "pending_approval", "nothing happens before confirming"

        done = await submit(
            browser, f"/console/referrals/{draft['id']}/approve", csrf, confirmed="yes"
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/console/referrals/{draft['id']}?done=approve"
        page = await browser.get(done.headers["location"])
        assert "Approved. The referral is on its way" in page.text
        assert 'id="referral-status">approved<' in page.text
    await ex.deliver()
    async with _browser(app) as browser:
        await signed_in(browser, focal)
        page = await browser.get(f"/console/referrals/{draft['id']}")
        assert 'id="referral-status">sent<' in page.text
