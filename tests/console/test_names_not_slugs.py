"""Agencies by name and stages by title, the slug or stage id only on hover (issue 17): the
programme page's bindings and stage map, and the journeys on the home page."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kit.db.base import utcnow
from kit.settings import Settings
from services.demo.scenarios import PEOPLE
from services.journeys.models import Journey
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


async def test_the_programme_page_names_the_agencies_that_act_for_each_role(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    sop = await federation(app, client, tmp_path)
    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        await signed_in(browser, focal)
        page = await browser.get(f"/console/programmes/{sop['programme_id']}")
    assert page.status_code == 200
    bindings = section(page.text, "bind-h")
    for slug in ("gov-de", "unhcr", "iom", "caritas", "gov-rs", "gov-xk", "ilo"):
        assert_named(bindings, slug, slug.upper())
    assert '<span title="iom">IOM</span> (alternates: <span title="caritas">CARITAS</span>)' in (
        bindings
    )
    assert 'SRB: <span title="gov-rs">GOV-RS</span> · XKX: <span title="gov-xk">GOV-XK</span>' in (
        bindings
    )
    stages = section(page.text, "map-h")
    assert_named(stages, "gov-de", "GOV-DE")


async def test_the_home_page_lists_a_waiting_journey_by_its_stage_title_in_the_readers_language(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    sop = await federation(app, client, tmp_path)
    sefa = next(p for p in PEOPLE if p.name.startswith("Sefa"))
    journey_id, _ = await sop["driver"].admit(sefa, sop["programme_id"], sop["valid_until"])
    async with app.state.db.sessions.begin() as session:
        journey = await session.get(Journey, uuid.UUID(journey_id))
        assert journey is not None
        assert journey.stage == "profiling"
        journey.due_at = utcnow() - timedelta(days=2)

    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        await signed_in(browser, focal)
        home = await browser.get("/console", headers={"Accept-Language": "fr"})
    assert home.status_code == 200
    waiting = re.search(r'<ul id="journeys-waiting">.*?</ul>', home.text, re.S)
    assert waiting, home.text
    assert (
        f'<a href="/console/journeys/{journey_id}" title="profiling">Profilage</a>'
        in waiting.group(0)
    )
    assert ">profiling<" not in waiting.group(0)
