"""An admin drafts, proposes and signs an agreement in the console; every fault in the draft
is named next to its field, and every signature shows whether it verifies."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from contracts.agreements import AgreementTerms, new_draft
from kit.db.base import new_id, utcnow
from services.agreements import repository as agreements_repository
from tests.support.console import signed_in, submit
from tests.support.federation import join
from tests.support.identity import seed_user
from tests.support.markers import sqlite_only
from tests.support.referrals import ROOT, person

pytestmark = sqlite_only


@pytest.fixture
async def federation(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await join(app, tmp_path / "directory.json", ROOT, "http://testserver", ["unhcr", "iom"])


def _browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _form(**changes: str) -> dict[str, str]:
    form = {
        "title": "Return counselling",
        "parties": "unhcr, iom",
        "purposes": "avrr-counselling",
        "legal_basis": "consent",
        "retention_days": "365",
        "valid_from": "2026-01-01",
        "valid_until": "2030-01-01",
        "categories": json.dumps(
            {
                "identity": {
                    "senders": ["unhcr"],
                    "recipients": ["iom"],
                    "data_roles": ["counsellor"],
                }
            },
            indent=2,
        ),
    }
    return form | changes


async def test_an_admin_drafts_proposes_and_signs_and_sees_the_signatures_verified(
    app: FastAPI, client: httpx.AsyncClient, federation: None
) -> None:
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        form = await browser.get("/console/agreements/new")
        for label in ("Title", "Parties", "Purposes", "Legal basis", "Valid from", "Valid until"):
            assert f">{label}</label>" in form.text

        drafted = await submit(browser, "/console/agreements/new", csrf, **_form())
        assert drafted.status_code == 303, drafted.text
        location = drafted.headers["location"]
        agreement_id = re.search(r"/console/agreements/([^?]+)", location).group(1)
        page = await browser.get(location)
        assert 'id="agreement-status">draft<' in page.text
        assert "Propose to every party</button>" in page.text

        proposed = await submit(browser, f"/console/agreements/{agreement_id}/propose", csrf)
        assert proposed.status_code == 303
        page = await browser.get(proposed.headers["location"])
        assert 'id="agreement-status">proposed<' in page.text
        digest = re.search(r'name="digest" value="([0-9a-f]{64})"', page.text).group(1)
        assert '"title": "Return counselling"' in html.unescape(page.text), "the canonical text"

        signed = await submit(
            browser, f"/console/agreements/{agreement_id}/sign", csrf, digest=digest
        )
        assert signed.status_code == 303
        page = await browser.get(signed.headers["location"])
        assert "Signed with your agency" in page.text
        assert "Sign agreement</button>" not in page.text
        assert page.text.count("verified against the directory") == 1
        assert "not signed yet" in page.text

    iom_admin = await person(app, client, "iom", ["admin"])
    countersigned = await client.post(
        f"/v1/agreements/{agreement_id}/sign", json={"digest": digest}, headers=iom_admin
    )
    assert countersigned.status_code == 200, countersigned.text
    async with _browser(app) as browser:
        await signed_in(browser, admin)
        page = await browser.get(f"/console/agreements/{agreement_id}")
        assert 'id="agreement-status">active<' in page.text
        assert page.text.count("verified against the directory") == 2


async def test_every_fault_in_a_draft_is_named_next_to_its_field(
    app: FastAPI, client: httpx.AsyncClient, federation: None
) -> None:
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        refused = await submit(
            browser,
            "/console/agreements/new",
            csrf,
            **_form(
                title="",
                categories=json.dumps({"identity": {"senders": ["unhcr"], "recipients": []}}),
            ),
        )
        assert refused.status_code == 422
        assert 'id="title-error"' in refused.text
        assert 'id="categories-error"' in refused.text
        assert 'aria-invalid="true"' in refused.text
        assert "Return counselling" not in refused.text or 'value=""' in refused.text

        not_json = await submit(
            browser, "/console/agreements/new", csrf, **_form(categories="{identity")
        )
        assert not_json.status_code == 422
        assert "is not valid JSON" in not_json.text
        listed = await browser.get("/console/agreements")
        assert "No agreements" in listed.text, "nothing was saved"


async def test_suspending_needs_a_reason_and_a_focal_point_cannot_sign(
    app: FastAPI, client: httpx.AsyncClient, federation: None
) -> None:
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        drafted = await submit(browser, "/console/agreements/new", csrf, **_form())
        agreement_id = drafted.headers["location"].split("/")[-1].split("?")[0]
    async with _browser(app) as browser:
        csrf = await signed_in(browser, focal)
        page = await browser.get(f"/console/agreements/{agreement_id}")
        assert page.status_code == 200
        assert "Propose" not in page.text
        refused = await submit(browser, f"/console/agreements/{agreement_id}/propose", csrf)
        assert refused.status_code == 403


async def test_a_category_without_data_roles_is_refused_in_the_console_with_what_to_write(
    app: FastAPI, client: httpx.AsyncClient, federation: None
) -> None:
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        categories = {
            "identity": {"senders": ["unhcr"], "recipients": ["iom"]},
            "skills": {"senders": ["unhcr"], "recipients": ["iom"], "data_roles": []},
        }
        refused = await submit(
            browser, "/console/agreements/new", csrf, **_form(categories=json.dumps(categories))
        )
        assert refused.status_code == 422
        text = html.unescape(refused.text)
        assert "name the data roles that may read identity at iom" in text
        assert "name the data roles that may read skills at iom" in text


async def test_an_agreement_signed_without_data_roles_shows_a_notice(
    app: FastAPI, client: httpx.AsyncClient, federation: None
) -> None:
    # Stored as a node held it before every category had to name its data roles.
    terms = AgreementTerms.model_validate(
        {
            "title": "Signed in 2025",
            "parties": ["unhcr", "iom"],
            "purposes": ["avrr-counselling"],
            "categories": {"identity": {"senders": ["unhcr"], "recipients": ["iom"]}},
            "retention_days": 365,
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_until": "2030-01-01T00:00:00Z",
        }
    )
    state = new_draft(str(new_id()), terms, by="unhcr", at=utcnow())
    async with app.state.db.sessions.begin() as session:
        await agreements_repository.save(session, state)
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    async with _browser(app) as browser:
        await signed_in(browser, admin)
        page = await browser.get(f"/console/agreements/{state.id}")
    assert page.status_code == 200
    notice = re.search(r'<[^>]*id="agreement-warnings".*?</(div|section)>', page.text, re.S)
    assert notice is not None, "the page warns about the category without data roles"
    assert "everyone at iom who reads referrals may read identity" in html.unescape(notice.group(0))
