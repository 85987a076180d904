"""An admin manages people, API clients and keys in the console: secrets are shown once, a
disabled account stops working at once, and a reset password ends the person's sessions."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.support.console import assert_named, signed_in, submit
from tests.support.federation import join
from tests.support.identity import SeededUser, seed_user, sign_in
from tests.support.markers import sqlite_only
from tests.support.referrals import ROOT

pytestmark = sqlite_only


@pytest.fixture
async def admin(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> SeededUser:
    await join(app, tmp_path / "directory.json", ROOT, "http://testserver", ["unhcr", "iom"])
    return await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])


def _browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _shown_secret(html: str) -> str:
    found = re.search(r'id="secret" readonly value="([^"]+)"', html)
    assert found, "the secret is on the page"
    return found.group(1)


async def test_a_new_users_password_is_shown_once_and_disabling_ends_their_session(
    app: FastAPI, client: httpx.AsyncClient, admin: SeededUser
) -> None:
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        missing = await submit(browser, "/console/users", csrf, email="not-an-email")
        assert missing.status_code == 422
        assert "email" in missing.text
        assert "roles" in missing.text

        created = await browser.post(
            "/console/users",
            data={
                "csrf_token": csrf,
                "email": "Focal@UNHCR.test",
                "display_name": "Focal Point",
                "roles": ["focal_point"],
                "data_roles": "protection_officer, counsellor",
            },
        )
        assert created.status_code == 200, created.text
        assert created.headers["cache-control"] == "no-store"
        password = _shown_secret(created.text)
        listed = await browser.get("/console/users")
        assert "focal@unhcr.test" in listed.text
        assert password not in listed.text

        newcomer = SeededUser(id="", email="focal@unhcr.test", password=password, agency="unhcr")
        async with _browser(app) as theirs:
            await signed_in(theirs, newcomer)
            user_id = re.search(
                r'action="/console/users/([0-9a-f-]+)"[^>]*>\s*<input[^>]*>\s*<button[^>]*'
                r'aria-label="Disable focal@unhcr.test"',
                listed.text,
            ).group(1)
            reset = await submit(
                browser, f"/console/users/{user_id}", csrf, action="reset_password"
            )
            assert reset.status_code == 200
            assert _shown_secret(reset.text) != password
            ended = await theirs.get("/console")
            assert ended.status_code == 303, "a reset password ends every session of theirs"

            again = SeededUser(
                id="", email="focal@unhcr.test", password=_shown_secret(reset.text), agency="unhcr"
            )
            await signed_in(theirs, again)
            disabled = await submit(browser, f"/console/users/{user_id}", csrf, action="disable")
            assert disabled.status_code == 303
            assert (await theirs.get("/console")).status_code == 303
            refused = await sign_in(theirs, again)
            assert refused.status_code == 401


async def test_a_client_secret_is_shown_once_and_rotating_it_retires_the_old_one(
    app: FastAPI, client: httpx.AsyncClient, admin: SeededUser
) -> None:
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        created = await browser.post(
            "/console/clients",
            data={
                "csrf_token": csrf,
                "name": "Case system",
                "scopes": ["cases:read", "referrals:read"],
                "roles": ["caseworker"],
            },
        )
        assert created.status_code == 200, created.text
        secret = _shown_secret(created.text)
        client_id = re.search(r"For <strong>([^<]+)</strong>", created.text).group(1)
        token = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert token.status_code == 200

        listed = await browser.get("/console/clients")
        client_pk = re.search(
            r'action="/console/clients/([0-9a-f-]+)"[^>]*>\s*<input[^>]*>\s*<button[^>]*'
            r'aria-label="Disable Case system"',
            listed.text,
        ).group(1)
        rotated = await submit(
            browser, f"/console/clients/{client_pk}", csrf, action="rotate_secret"
        )
        fresh = _shown_secret(rotated.text)
        old = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert old.status_code == 401
        new = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, fresh)
        )
        assert new.status_code == 200


async def test_the_admin_pages_name_the_agency_with_its_slug_on_hover(
    app: FastAPI, admin: SeededUser
) -> None:
    async with _browser(app) as browser:
        await signed_in(browser, admin)
        for path in ("/console/users", "/console/clients", "/console/federation"):
            shown = await browser.get(path)
            header = re.search(r'<span class="who">.*?</span>\n', shown.text).group(0)
            assert_named(header, "unhcr", "UNHCR")
            heading = re.search(r"<h[12][^>]*>[^\n]*UNHCR[^\n]*</h[12]>", shown.text)
            assert heading, f"{path} names the agency in its heading"
            assert_named(heading.group(0), "unhcr", "UNHCR")


async def test_the_keys_page_shows_each_key_published_in_the_directory(
    app: FastAPI, client: httpx.AsyncClient, admin: SeededUser
) -> None:
    async with _browser(app) as browser:
        await signed_in(browser, admin)
        page = await browser.get("/console/federation")
        assert page.status_code == 200
        assert 'id="directory-version">version 1 of' in page.text
        for kind in ("ed25519", "hpke-x25519", "hpke-mlkem768-x25519"):
            assert f'<td data-label="Kind">{kind}</td>' in page.text
        assert page.text.count('<span class="valid">published</span>') == 3
        assert "not published" not in page.text


async def test_a_refused_form_ties_each_error_to_its_field_and_takes_the_focus(
    app: FastAPI, admin: SeededUser
) -> None:
    """WCAG 3.3.1 and 1.3.1: the summary at the top has the focus (autofocus, no script) and
    links to each field; the field says it is invalid and is described by its message."""
    async with _browser(app) as browser:
        csrf = await signed_in(browser, admin)
        refused = await submit(
            browser,
            "/console/users",
            csrf,
            email="someone@nowhere",
            display_name="Someone",
            data_roles="counsellor",
        )
    assert refused.status_code == 422, refused.text
    summary = re.search(r'<div class="error" role="alert" id="error-summary"[^>]*>', refused.text)
    assert summary, refused.text
    assert 'tabindex="-1"' in summary.group(0)
    assert "autofocus" in summary.group(0)
    assert '<a href="#email">Email</a>' in refused.text
    assert re.search(
        r'<input type="email" id="email"[^>]* aria-invalid="true" aria-describedby="email-error">',
        refused.text,
    )
    assert '<p class="field-error" id="email-error">' in refused.text
    assert 'id="display_name" name="display_name" value="Someone" required>' in refused.text
    assert 'aria-describedby="data-roles-help"' in refused.text, "help still describes the field"
