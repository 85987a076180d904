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


async def test_declining_needs_a_reason_and_the_page_says_so(
    app: FastAPI, client: httpx.AsyncClient, ex: Exchange
) -> None:
    sent = await ex.sent()
    focal = await seed_user(app, "iom", "fp@iom.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, focal)
        home = await browser.get("/console")
        assert 'id="count-accept">1<' in home.text
        detail = await browser.get(f"/console/referrals/{sent['id']}")
        assert ">Accept</button>" in detail.text
        assert ">Decline</button>" in detail.text
        path = f"/console/referrals/{sent['id']}/decline"
        asked = await submit(browser, path, csrf)
        assert '<label for="reason">Reason</label>' in asked.text
        empty = await submit(browser, path, csrf, confirmed="yes", reason="  ")
        assert empty.status_code == 422
        assert "reason" in empty.text
        assert 'role="alert"' in empty.text
        assert 'id="referral-status">received<' in (await browser.get(detail.url)).text
        done = await submit(
            browser, path, csrf, confirmed="yes", reason="No counsellor speaks Serbian this month."
        )
        assert done.status_code == 303
        page = await browser.get(done.headers["location"])
        assert 'id="referral-status">declined<' in page.text
        assert "No counsellor speaks Serbian this month." in page.text


async def test_a_refusal_by_policy_lists_every_reason_on_the_page(
    app: FastAPI, client: httpx.AsyncClient, ex: Exchange
) -> None:
    draft = await ex.draft()
    suspended = await client.post(
        f"/v1/agreements/{ex.agreement_id}/suspend",
        json={"reason": "audit finding"},
        headers=ex.people["unhcr_admin"],
    )
    assert suspended.status_code == 200, suspended.text
    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, focal)
        refused = await submit(
            browser, f"/console/referrals/{draft['id']}/approve", csrf, confirmed="yes"
        )
        assert refused.status_code == 403
        assert "Refused by policy" in refused.text
        assert "Every reason:" in refused.text
        assert "suspended" in refused.text
    still = await client.get(f"/v1/referrals/{draft['id']}", headers=ex.people["unhcr_caseworker"])
    assert still.json()["status"] == "pending_approval"


async def test_a_form_without_the_csrf_token_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, ex: Exchange
) -> None:
    draft = await ex.draft()
    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        await signed_in(browser, focal)
        forged = await browser.post(
            f"/console/referrals/{draft['id']}/approve", data={"confirmed": "yes"}
        )
        assert forged.status_code == 403
        assert "did not come from this console" in forged.text
    still = await client.get(f"/v1/referrals/{draft['id']}", headers=ex.people["unhcr_caseworker"])
    assert still.json()["status"] == "pending_approval"


async def test_only_focal_points_approve_and_other_agencies_see_nothing(
    app: FastAPI, client: httpx.AsyncClient, ex: Exchange
) -> None:
    draft = await ex.draft()
    worker = await seed_user(app, "unhcr", "cw@unhcr.test", roles=["caseworker"])
    outsider = await seed_user(app, "ilo", "fp@ilo.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, worker)
        detail = await browser.get(f"/console/referrals/{draft['id']}")
        assert detail.status_code == 200
        assert ">Approve</button>" not in detail.text
        refused = await submit(
            browser, f"/console/referrals/{draft['id']}/approve", csrf, confirmed="yes"
        )
        assert refused.status_code == 403
        assert "focal point" in refused.text
    async with _browser(app) as browser:
        await signed_in(browser, outsider)
        hidden = await browser.get(f"/console/referrals/{draft['id']}")
        assert hidden.status_code == 404


async def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with _browser(app) as browser:
        response = await browser.get("/console/referrals?direction=incoming")
        assert response.status_code == 303
        assert response.headers["location"] == (
            "/console/login?next=%2Fconsole%2Freferrals%3Fdirection%3Dincoming"
        )


async def test_break_glass_opens_a_withheld_category_after_a_written_reason(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    vital = await exchange(app, client, tmp_path, legal_basis="vital_interest", break_glass=True)
    sent = await vital.sent(categories=["identity", "protection"], consent_id=None)
    focal = await seed_user(app, "iom", "fp@iom.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, focal)
        detail = await browser.get(f"/console/referrals/{sent['id']}")
        assert "Withheld from you" in detail.text
        assert ">Break glass</button>" in detail.text
        path = f"/console/referrals/{sent['id']}/break-glass"
        asked = await submit(browser, path, csrf)
        assert '<option value="protection"' in asked.text
        short = await submit(
            browser, path, csrf, confirmed="yes", category="protection", reason="x"
        )
        assert short.status_code == 422
        assert "reason" in short.text
        opened = await submit(
            browser,
            path,
            csrf,
            confirmed="yes",
            category="protection",
            reason="Credible threat reported tonight; need the risk assessment to place her.",
        )
        assert opened.status_code == 303
        page = await browser.get(opened.headers["location"])
        assert "Opened under break-glass" in page.text
        assert "<h3>protection</h3>" in page.text


async def test_break_glass_is_not_offered_where_the_agreement_does_not_allow_it(
    app: FastAPI, client: httpx.AsyncClient, ex: Exchange
) -> None:
    sent = await ex.sent(categories=["identity", "protection"])
    focal = await seed_user(app, "iom", "fp@iom.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, focal)
        detail = await browser.get(f"/console/referrals/{sent['id']}")
        assert "Withheld from you" in detail.text
        assert "Break glass" not in detail.text
        refused = await submit(
            browser,
            f"/console/referrals/{sent['id']}/break-glass",
            csrf,
            confirmed="yes",
            category="protection",
            reason="I would like to see it please.",
        )
        assert refused.status_code == 403
        assert "does not allow break-glass" in refused.text
