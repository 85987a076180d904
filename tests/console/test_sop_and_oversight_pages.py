"""The SOP picture and the overseers' pages on the demo federation in one process: a journey's
position and path on its programme's stage map, the erasure receipts a withdrawal produced,
and the audit chain an auditor sees verified."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kit.settings import Settings
from services.demo.scenarios import PEOPLE
from tests.support.console import assert_named, section, signed_in
from tests.support.federation import member_settings
from tests.support.identity import seed_user
from tests.support.markers import sqlite_only
from tests.support.sop import ROOT, federation

pytestmark = sqlite_only


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return member_settings(database_url, tmp_path, ROOT)


def _browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_a_withdrawn_journey_shows_its_path_and_its_erasures(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    sop = await federation(app, client, tmp_path)
    sefa = next(p for p in PEOPLE if p.name.startswith("Sefa"))
    result = await sop["driver"].run(sefa, sop["programme_id"], sop["valid_until"])
    journey_id = result["journey"]["id"]

    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        await signed_in(browser, focal)
        programme = await browser.get(f"/console/programmes/{sop['programme_id']}")
        assert programme.status_code == 200
        assert 'id="programme-check">Runnable' in programme.text
        assert 'id="stage-profiling"' in programme.text
        assert 'id="stage-bid"' in programme.text
        assert f"/console/journeys/{journey_id}" in programme.text

        page = await browser.get(f"/console/journeys/{journey_id}")
        assert page.status_code == 200
        assert 'id="journey-stage">' in page.text
        assert '<li id="stage-withdrawn" class="current" aria-current="step">' in page.text
        for visited in ("profiling", "counselling", "travel_documents"):
            assert f'<li id="stage-{visited}" class="visited">' in page.text
        assert '<li id="stage-departure" class="">' in page.text, "never reached"
        assert "(taken)" in page.text

    overseer = await seed_user(app, "unhcr", "auditor@unhcr.test", roles=["auditor"])
    async with _browser(app) as browser:
        await signed_in(browser, overseer)
        erasures = await browser.get("/console/erasures")
        assert 'id="count-outstanding">0<' in erasures.text
        assert "Confirmed (3)" in erasures.text, "gov-de, iom and gov-rs each sent a receipt"
        confirmed = section(erasures.text, "done-h")
        for recipient in ("gov-de", "iom", "gov-rs"):
            assert_named(confirmed, recipient, recipient.upper())

        audit = await browser.get("/console/audit")
        assert 'id="chain-status">Chain valid' in audit.text
        filtered = await browser.get("/console/audit", params={"action": "referral.approved"})
        rows = filtered.text.count('<td data-label="Action">referral.approved')
        assert rows >= 3
        assert ">case.created" not in filtered.text
        bad = await browser.get("/console/audit", params={"since": "yesterday"})
        assert bad.status_code == 422
        assert "is not a date" in bad.text
