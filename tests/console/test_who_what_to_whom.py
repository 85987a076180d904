"""Issue 17, part 1: the approval and acceptance pages, their confirmations and the lists say
who a referral is about (where the reader's data roles allow, and why not otherwise), what is
sent, to whom by directory name, and whose deadline it is; people and agencies appear by name
with their id on hover."""

from __future__ import annotations

from datetime import timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kit.db.base import utcnow
from tests.support.console import signed_in, submit
from tests.support.identity import seed_user
from tests.support.markers import sqlite_only
from tests.support.referrals import Exchange, exchange

pytestmark = sqlite_only

NAME = "Amina Haddad"


@pytest.fixture
async def ex(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> Exchange:
    return await exchange(app, client, tmp_path)


def _browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _deadline() -> str:
    return (utcnow() + timedelta(days=5)).isoformat()


async def _reference(ex: Exchange) -> str:
    case = await ex.client.get(f"/v1/cases/{ex.case_id}", headers=ex.people["unhcr_caseworker"])
    return str(case.json()["external_ref"])


async def test_a_unhcr_focal_point_approval_page_names_the_person_and_the_recipient_agency(
    app: FastAPI, ex: Exchange
) -> None:
    draft = await ex.draft(respond_by=_deadline())
    reference = await _reference(ex)
    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        await signed_in(browser, focal)
        page = (await browser.get(f"/console/referrals/{draft['id']}")).text
        assert NAME in page
        assert reference in page
        assert '<span title="iom">IOM</span>' in page, "the recipient by its directory name"
        assert "Referral to IOM" in page
        assert "the recipient's deadline to answer" in unescape(page)
        # Each category to be sent, with its fields for a reader who may read them.
        for category in ("identity", "contact", "specific needs"):
            assert f"<h3>{category}</h3>" in page
        assert "a.h@example.org" in page
        home = (await browser.get("/console")).text
        assert NAME in home, "the list names the person too"
        listed = (await browser.get("/console/referrals")).text
        assert NAME in listed
        assert '<span title="iom">IOM</span>' in listed


async def test_a_reader_without_a_data_role_that_reads_identity_sees_why_not_and_no_name(
    app: FastAPI, ex: Exchange
) -> None:
    sent = await ex.sent(respond_by=_deadline())
    focal = await seed_user(app, "iom", "fp@iom.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, focal)
        page = (await browser.get(f"/console/referrals/{sent['id']}")).text
        assert "Haddad" not in page
        assert "your data roles do not include one that may read identity" in page
        assert '<span title="unhcr">UNHCR</span>' in page, "the sender by its directory name"
        assert "your deadline to answer" in page
        asked = (await submit(browser, f"/console/referrals/{sent['id']}/accept", csrf)).text
        assert "Haddad" not in asked
        assert "your data roles do not include one that may read identity" in asked
        home = (await browser.get("/console")).text
        assert "Haddad" not in home
        assert "not yours to read" in home
    counsellor = await seed_user(
        app, "iom", "c@iom.test", roles=["focal_point"], data_roles=["counsellor"]
    )
    async with _browser(app) as browser:
        await signed_in(browser, counsellor)
        page = (await browser.get(f"/console/referrals/{sent['id']}")).text
        assert NAME in page
        assert "stays with UNHCR" in page, "the sender's case reference is not sent"
        assert NAME in (await browser.get("/console")).text


async def test_an_auditor_is_told_why_the_person_is_not_named(app: FastAPI, ex: Exchange) -> None:
    draft = await ex.draft()
    auditor = await seed_user(app, "unhcr", "a@unhcr.test", roles=["auditor"])
    async with _browser(app) as browser:
        await signed_in(browser, auditor)
        page = (await browser.get(f"/console/referrals/{draft['id']}")).text
        assert "Haddad" not in page
        assert "reading case data needs the role" in page
        assert "a.h@example.org" not in page


async def test_the_confirmation_names_them_too(app: FastAPI, ex: Exchange) -> None:
    draft = await ex.draft(respond_by=_deadline())
    reference = await _reference(ex)
    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, focal)
        path = f"/console/referrals/{draft['id']}/approve"
        asked = await submit(browser, path, csrf)
        assert asked.status_code == 200
        assert "Approve and send this referral?" in asked.text
        assert NAME in asked.text
        assert reference in asked.text
        assert '<span title="iom">IOM</span>' in asked.text
        assert "the recipient's deadline to answer" in unescape(asked.text)
        assert "contact" in asked.text
        assert NAME not in str(asked.url)
    sent = await ex.sent()
    counsellor = await seed_user(
        app, "iom", "c@iom.test", roles=["focal_point"], data_roles=["counsellor"]
    )
    async with _browser(app) as browser:
        csrf = await signed_in(browser, counsellor)
        asked = await submit(browser, f"/console/referrals/{sent['id']}/accept", csrf)
        assert "Accept this referral for your agency?" in asked.text
        assert NAME in asked.text
        assert '<span title="unhcr">UNHCR</span>' in asked.text


async def test_the_audit_page_names_users_and_agencies_with_the_id_on_hover(
    app: FastAPI, ex: Exchange
) -> None:
    draft = await ex.draft()
    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, focal)
        done = await submit(
            browser, f"/console/referrals/{draft['id']}/approve", csrf, confirmed="yes"
        )
        assert done.status_code == 303
        page = (await browser.get(done.headers["location"])).text
        assert f'<span title="user:{focal.id}">fp</span>' in page, "the timeline names them"
    auditor = await seed_user(app, "unhcr", "a@unhcr.test", roles=["auditor"])
    async with _browser(app) as browser:
        await signed_in(browser, auditor)
        audit = (await browser.get("/console/audit")).text
        assert f'<span title="user:{focal.id}">fp</span>' in audit
        assert '<span title="client:' in audit, "API clients by name, id on hover"
        assert ">unhcr test system</span>" in audit
        assert 'Chain of <span title="unhcr">UNHCR</span>' in audit
        assert NAME not in audit


async def test_names_resolve_only_the_viewers_own_agencys_principals(
    app: FastAPI, ex: Exchange
) -> None:
    from services.console.names import names_for

    mine = await seed_user(app, "unhcr", "mine@unhcr.test", roles=["auditor"])
    theirs = await seed_user(app, "iom", "theirs@iom.test", roles=["focal_point"])
    async with app.state.db.sessions() as session:
        names = await names_for(
            session, directory=app.state.federation.directory.current(), agency="unhcr"
        )
    assert names.name_of(f"user:{mine.id}") == "mine"
    assert names.name_of(f"user:{theirs.id}") == f"user:{theirs.id}", "not another agency's"
    assert names.name_of("iom") == "IOM"
    assert names.name_of("iom/user:" + theirs.id) == f"IOM / user:{theirs.id}"
    assert names.name_of("node:iom") == "node of IOM"
    assert names.name_of("no-such-agency") == "no-such-agency"
