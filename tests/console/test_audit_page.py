"""The auditor's timeline: each subject a link to its page, and filters that take the ids the
page shows (the last eight characters) as well as whole ids (issue 17, part 3)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.support.console import signed_in
from tests.support.identity import seed_user
from tests.support.markers import sqlite_only
from tests.support.referrals import Exchange, exchange

pytestmark = sqlite_only


@pytest.fixture
async def ex(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> Exchange:
    return await exchange(app, client, tmp_path)


def _browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_audit_subjects_link_to_their_pages(app: FastAPI, ex: Exchange) -> None:
    draft = await ex.draft()
    auditor = await seed_user(app, "unhcr", "auditor@unhcr.test", roles=["auditor"])
    async with _browser(app) as browser:
        await signed_in(browser, auditor)
        page = await browser.get("/console/audit")
    assert page.status_code == 200
    assert f'<a href="/console/referrals/{draft["id"]}">referral {draft["id"][-8:]}</a>' in (
        page.text
    )
    assert f'<a href="/console/agreements/{ex.agreement_id}">agreement' in page.text
    # A case has no page of its own in the console: its subject opens the case's events.
    assert f'<a href="/console/audit?case_id={ex.case_id}"' in page.text


async def test_audit_filters_take_the_ids_the_page_shows(app: FastAPI, ex: Exchange) -> None:
    first, second = await ex.draft(), await ex.draft()
    auditor = await seed_user(app, "unhcr", "auditor@unhcr.test", roles=["auditor"])
    async with _browser(app) as browser:
        await signed_in(browser, auditor)
        for shown in (first["id"][-8:], f"referral {first['id'][-8:]}", first["id"].upper()):
            page = await browser.get("/console/audit", params={"referral_id": shown})
            assert page.status_code == 200, (shown, page.text)
            assert f"/console/referrals/{first['id']}" in page.text, shown
            assert f"/console/referrals/{second['id']}" not in page.text, shown
        by_case = await browser.get("/console/audit", params={"case_id": ex.case_id[-8:]})
        assert by_case.status_code == 200
        assert "case.created" in by_case.text
        assert "agreement." not in by_case.text
        bad = await browser.get("/console/audit", params={"referral_id": "12"})
        assert bad.status_code == 422
        assert 'aria-invalid="true"' in bad.text
        assert 'aria-describedby="referral_id-error"' in bad.text
