"""An admin drafts, proposes and signs an agreement in the console; the draft is a guided form
(parties, categories, senders, recipients and data roles ticked, no JSON), every fault in it is
named next to its field and in a summary at the top, and every signature shows whether it
verifies."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from contracts.agreements import AgreementTerms, new_draft
from contracts.categories import Category
from contracts.data_roles import FieldDataRole
from kit.db.base import new_id, utcnow
from services.agreements import repository as agreements_repository
from tests.support.console import assert_named, section, signed_in, submit
from tests.support.federation import join
from tests.support.identity import seed_user
from tests.support.markers import sqlite_only
from tests.support.referrals import ROOT, person

pytestmark = sqlite_only

VOID = frozenset({"input", "br", "img", "meta", "link", "hr", "source", "wbr", "col"})


class _Page(HTMLParser):
    """The page's elements with their attributes, and the text inside each element with an id:
    enough to ask which field a message describes without a parser dependency."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.elements.append((tag, found))
        if tag in VOID:
            return
        self._open.append((tag, found.get("id")))
        if found.get("id"):
            self.text[found["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.text[element_id] += data

    def inputs(self, name: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t in {"input", "select"} and a.get("name") == name]

    def by_id(self, element_id: str) -> tuple[str, dict[str, str]]:
        found = [(t, a) for t, a in self.elements if a.get("id") == element_id]
        assert len(found) == 1, f"one element with id {element_id}, found {len(found)}"
        return found[0]

    def words(self, element_id: str) -> str:
        return " ".join(self.text[element_id].split())


@pytest.fixture
async def federation(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await join(app, tmp_path / "directory.json", ROOT, "http://testserver", ["unhcr", "iom", "ilo"])


def _browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


Form = dict[str, str | list[str]]


def _form(**changes: str | list[str]) -> Form:
    """The draft form as a browser posts it: ticked boxes are repeated names."""
    form: Form = {
        "title": "Return counselling",
        "parties": ["unhcr", "iom"],
        "purposes": "avrr-counselling",
        "legal_basis": "consent",
        "retention_days": "365",
        "valid_from": "2026-01-01",
        "valid_until": "2030-01-01",
        "encryption": "hpke-x25519",
        "identity.senders": ["unhcr"],
        "identity.recipients": ["iom"],
        "identity.data_roles": ["counsellor"],
    }
    return form | {k.replace("__", "."): v for k, v in changes.items()}


async def _draft(browser: httpx.AsyncClient, csrf: str, form: Form) -> httpx.Response:
    return await browser.post("/console/agreements/new", data={"csrf_token": csrf, **form})


def _id_of(location: str) -> str:
    found = re.search(r"/console/agreements/([^?]+)", location)
    assert found, location
    return found.group(1)


async def test_an_admin_drafts_an_agreement_by_ticking_parties_categories_and_roles_no_json(
    app: FastAPI, client: httpx.AsyncClient, federation: None
) -> None:
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        blank = await browser.get("/console/agreements/new")
        assert blank.status_code == 200
        assert "<textarea" not in blank.text, "nothing is typed as JSON"
        assert "JSON" not in blank.text
        form = _Page(blank.text)
        parties = {a["value"]: a for a in form.inputs("parties") if a.get("type") == "checkbox"}
        assert set(parties) == {"unhcr", "iom", "ilo"}, "every directory member is offered"
        own = parties["unhcr"]
        assert "checked" in own, "the drafting agency is a party"
        assert "disabled" in own, "and stays one"
        assert {"type": "hidden", "name": "parties", "value": "unhcr"}.items() <= next(
            a for a in form.inputs("parties") if a.get("type") == "hidden"
        ).items()
        assert not any("checked" in a for s, a in parties.items() if s != "unhcr")
        for category in Category:
            for part in ("senders", "recipients"):
                boxes = form.inputs(f"{category.value}.{part}")
                assert {a["value"] for a in boxes} == {"unhcr", "iom", "ilo"}, (category, part)
                assert not any("checked" in a for a in boxes), "no category is chosen for you"
            roles = {a["value"] for a in form.inputs(f"{category.value}.data_roles")}
            assert roles == {r.value for r in FieldDataRole}, category
            assert form.inputs(f"{category.value}.other_roles"), category
        for label in ("Title", "Purposes", "Legal basis", "Valid from", "Valid until"):
            assert f">{label}</label>" in blank.text, label
        assert form.by_id("retention_days")[1]["type"] == "number"
        assert form.by_id("valid_from")[1]["type"] == "date"
        assert form.by_id("encryption")[0] == "select"
        assert form.by_id("onward_sharing")[1]["type"] == "checkbox"

        drafted = await _draft(
            browser,
            csrf,
            _form(
                parties=["unhcr", "iom", "ilo"],
                purposes="avrr-counselling, reintegration-employment",
                legal_basis="vital_interest",
                retention_days="90",
                encryption="hpke-mlkem768-x25519",
                onward_sharing="yes",
                identity__recipients=["iom", "ilo"],
                identity__other_roles="case_manager, intake_clerk",
                health__senders=["unhcr"],
                health__recipients=["iom"],
                health__data_roles=["medical", "protection_officer"],
            ),
        )
        assert drafted.status_code == 303, drafted.text
        agreement_id = _id_of(drafted.headers["location"])

    unhcr_admin = await person(app, client, "unhcr", ["admin"])
    held = await client.get(f"/v1/agreements/{agreement_id}", headers=unhcr_admin)
    assert held.status_code == 200, held.text
    canonical = held.json()["canonical"]
    # The canonical text lists sets sorted (contracts.agreements.canonical).
    assert canonical["parties"] == ["ilo", "iom", "unhcr"]
    assert canonical["purposes"] == ["avrr-counselling", "reintegration-employment"]
    assert canonical["legal_basis"] == "vital_interest"
    assert canonical["retention_days"] == 90
    assert canonical["encryption"] == "hpke-mlkem768-x25519"
    assert canonical["onward_sharing"] is True
    assert canonical["valid_from"].startswith("2026-01-01T00:00:00")
    assert canonical["valid_until"].startswith("2030-01-01T00:00:00")
    assert canonical["categories"] == {
        "identity": {
            "senders": ["unhcr"],
            "recipients": ["ilo", "iom"],
            "data_roles": ["case_manager", "counsellor", "intake_clerk"],
        },
        "health": {
            "senders": ["unhcr"],
            "recipients": ["iom"],
            "data_roles": ["medical", "protection_officer"],
        },
    }, "a category with nothing ticked is not in the agreement"


async def test_a_category_without_data_roles_is_refused_at_its_fieldset_with_the_words(
    app: FastAPI, client: httpx.AsyncClient, federation: None
) -> None:
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        refused = await _draft(
            browser,
            csrf,
            _form(identity__data_roles=[], skills__senders=["unhcr"], skills__recipients=["iom"]),
        )
        assert refused.status_code == 422
        page = _Page(refused.text)
        for category in ("identity", "skills"):
            error = f"categories-{category}-data_roles-error"
            words = page.words(error).lower()
            assert f"name the data roles that may read {category} at iom" in words, words
            boxes = page.inputs(f"{category}.data_roles")
            assert boxes
            assert all(a.get("aria-invalid") == "true" for a in boxes)
            assert all(error in a.get("aria-describedby", "").split() for a in boxes)
            tag, group = page.by_id(f"categories-{category}")
            assert tag == "details"
            assert "open" in group, "a category at fault is shown open"
        assert page.words("error-summary").lower().count("name the data roles") == 2
        kept = {a["value"] for a in page.inputs("skills.senders") if "checked" in a}
        assert kept == {"unhcr"}, "what was ticked stays ticked"
        assert "open" not in page.by_id("categories-health")[1], "untouched categories stay shut"
        listed = await browser.get("/console/agreements")
        assert "No agreements" in listed.text, "nothing was saved"


async def test_every_fault_is_shown_at_its_field_and_in_the_summary(
    app: FastAPI, client: httpx.AsyncClient, federation: None
) -> None:
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        refused = await _draft(
            browser,
            csrf,
            _form(
                title="",
                parties=["unhcr"],
                purposes="Hardship Review",
                retention_days="a year",
                valid_from="2030-01-01",
                valid_until="2026-01-01",
                identity__recipients=["ilo"],
                identity__other_roles="Case Manager",
                health__recipients=["iom"],
                health__data_roles=["medical"],
            ),
        )
    assert refused.status_code == 422
    page = _Page(refused.text)
    text = html.unescape(refused.text)
    assert "String should" not in text, "words, not pydantic's messages"
    assert "Input should" not in text

    expected = {
        # field's error id: (an input it describes, words the message holds)
        "title-error": ("title", "Give the agreement a title"),
        # The summary links to the first agency one could tick (by name: ILO before IOM).
        "parties-error": ("parties-ilo", "at least two"),
        "purposes-error": ("purposes", "Hardship Review"),
        "retention_days-error": ("retention_days", "number of days"),
        "valid_until-error": ("valid_until", "after"),
        "categories-identity-recipients-error": ("categories-identity-recipients-ilo", "ILO"),
        "categories-identity-data_roles-error": (
            "categories-identity-other_roles",
            "Case Manager",
        ),
        "categories-health-senders-error": ("categories-health-senders-unhcr", "send"),
    }
    _, summary = page.by_id("error-summary")
    assert summary.get("tabindex") == "-1"
    assert "autofocus" in summary, "focus moves to the summary, without a script"
    links = {a["href"] for t, a in page.elements if t == "a" and a.get("href", "").startswith("#")}
    for error_id, (field_id, words) in expected.items():
        assert words in page.words(error_id), (error_id, page.words(error_id))
        _, field = page.by_id(field_id)
        assert field.get("aria-invalid") == "true", field_id
        assert error_id in field.get("aria-describedby", "").split(), field_id
        assert page.words(error_id) in page.words("error-summary"), error_id
        assert f"#{field_id}" in links, f"the summary links to {field_id}"

    # What was entered is shown again, to be fixed rather than typed anew.
    assert page.by_id("purposes")[1]["value"] == "Hardship Review"
    assert page.by_id("retention_days")[1]["value"] == "a year"
    assert page.by_id("valid_from")[1]["value"] == "2030-01-01"
    assert page.by_id("categories-identity-other_roles")[1]["value"] == "Case Manager"
    assert "checked" in page.by_id("categories-identity-recipients-ilo")[1]
    assert "checked" in page.by_id("categories-health-data_roles-medical")[1]
    assert "checked" not in page.by_id("parties-iom")[1]


async def test_an_admin_drafts_proposes_and_signs_and_sees_the_signatures_verified(
    app: FastAPI, client: httpx.AsyncClient, federation: None
) -> None:
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        form = await browser.get("/console/agreements/new")
        assert form.status_code == 200

        drafted = await _draft(browser, csrf, _form())
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


async def test_the_parties_are_named_with_their_slug_on_hover(
    app: FastAPI, client: httpx.AsyncClient, federation: None
) -> None:
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        drafted = await _draft(browser, csrf, _form())
        page = await browser.get(drafted.headers["location"])
    parties = section(page.text, "parties-h")
    assert_named(parties, "unhcr", "UNHCR")
    assert_named(parties, "iom", "IOM")


async def test_suspending_needs_a_reason_and_a_focal_point_cannot_sign(
    app: FastAPI, client: httpx.AsyncClient, federation: None
) -> None:
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    focal = await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        drafted = await _draft(browser, csrf, _form())
        agreement_id = drafted.headers["location"].split("/")[-1].split("?")[0]
    async with _browser(app) as browser:
        csrf = await signed_in(browser, focal)
        page = await browser.get(f"/console/agreements/{agreement_id}")
        assert page.status_code == 200
        assert "Propose" not in page.text
        refused = await submit(browser, f"/console/agreements/{agreement_id}/propose", csrf)
        assert refused.status_code == 403


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
