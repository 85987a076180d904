"""Every console page and form, walked like the API's tenancy matrix: signed out it sends the
visitor to sign in; for a role it does not name it refuses; for a role it names it answers in
HTML, never a 500, even for ids that do not exist."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from auth.public import PUBLIC_ROUTES
from auth.scopes import ALL_ROLES
from kit.http.routing import operations
from tests.support.console import signed_in
from tests.support.identity import seed_agency, seed_user
from tests.support.markers import sqlite_only

pytestmark = sqlite_only

WORKERS = {"caseworker", "focal_point"}
EVERYONE = set(ALL_ROLES)
MISSING = str(uuid.uuid4())

#: (method, path) -> the roles that may use it. Paths are filled with an id that names nothing.
CONSOLE_ROUTES: dict[tuple[str, str], set[str]] = {
    ("GET", "/console"): EVERYONE,
    ("GET", "/console/referrals"): WORKERS | {"auditor"},
    ("GET", "/console/referrals/{referral_id}"): WORKERS | {"auditor"},
    ("POST", "/console/referrals/{referral_id}/approve"): {"focal_point"},
    ("POST", "/console/referrals/{referral_id}/accept"): {"focal_point"},
    ("POST", "/console/referrals/{referral_id}/decline"): {"focal_point"},
    ("POST", "/console/referrals/{referral_id}/break-glass"): {"focal_point"},
    ("GET", "/console/agreements"): EVERYONE,
    ("GET", "/console/agreements/new"): {"admin"},
    ("POST", "/console/agreements/new"): {"admin"},
    ("GET", "/console/agreements/{agreement_id}"): EVERYONE,
    ("POST", "/console/agreements/{agreement_id}/propose"): {"admin"},
    ("POST", "/console/agreements/{agreement_id}/sign"): {"admin"},
    ("POST", "/console/agreements/{agreement_id}/suspend"): {"admin"},
    ("GET", "/console/programmes"): EVERYONE,
    ("GET", "/console/programmes/{programme_id}"): EVERYONE,
    ("GET", "/console/journeys/{journey_id}"): WORKERS,
    ("GET", "/console/users"): {"admin"},
    ("POST", "/console/users"): {"admin"},
    ("POST", "/console/users/{user_id}"): {"admin"},
    ("GET", "/console/clients"): {"admin"},
    ("POST", "/console/clients"): {"admin"},
    ("POST", "/console/clients/{client_pk}"): {"admin"},
    ("GET", "/console/federation"): {"admin"},
    ("GET", "/console/webhooks"): {"admin"},
    ("POST", "/console/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): {"admin"},
    ("GET", "/console/audit"): {"auditor"},
    ("GET", "/console/erasures"): {"admin", "auditor"},
    # Everyone's own language and time zone.
    ("GET", "/console/settings"): EVERYONE,
    ("POST", "/console/settings"): EVERYONE,
}


def _fill(path: str) -> str:
    parts = [MISSING if p.startswith("{") else p for p in path.split("/")]
    return "/".join(parts)


def test_every_console_route_is_in_the_table(app: FastAPI) -> None:
    console = {
        (m, p)
        for m, p, _ in operations(app)
        if p.startswith("/console") and (m, p) not in PUBLIC_ROUTES
    }
    assert console - set(CONSOLE_ROUTES) == set(), "add these routes to CONSOLE_ROUTES"
    assert set(CONSOLE_ROUTES) - console == set(), "CONSOLE_ROUTES names routes that are gone"


async def test_signed_out_every_page_and_form_sends_the_visitor_to_sign_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for (method, path), _ in sorted(CONSOLE_ROUTES.items()):
        response = await client.request(method, _fill(path), data={} if method == "POST" else None)
        assert response.status_code == 303, f"{method} {path}: {response.status_code}"
        assert response.headers["location"].startswith("/console/login?next="), path


@pytest.fixture
async def browsers(
    app: FastAPI, client: httpx.AsyncClient
) -> dict[str, tuple[httpx.AsyncClient, str]]:
    """One signed-in browser per role, each person holding exactly that role."""
    await seed_agency(app, "unhcr")
    signed: dict[str, tuple[httpx.AsyncClient, str]] = {}
    for role in sorted(ALL_ROLES):
        user = await seed_user(app, "unhcr", f"{role}@unhcr.test", roles=[role])
        browser = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        signed[role] = (browser, await signed_in(browser, user))
    yield signed
    for browser, _ in signed.values():
        await browser.aclose()


async def test_each_route_refuses_the_roles_it_does_not_name_and_serves_the_rest(
    browsers: dict[str, tuple[httpx.AsyncClient, str]],
) -> None:
    wrong: list[str] = []
    for (method, path), allowed in sorted(CONSOLE_ROUTES.items()):
        for role, (browser, csrf) in browsers.items():
            data = {"csrf_token": csrf, "confirmed": "yes"} if method == "POST" else None
            response = await browser.request(method, _fill(path), data=data)
            status = response.status_code
            if role not in allowed:
                if status != 403 or "Not part of your role" not in response.text:
                    wrong.append(f"{role} {method} {path}: {status}, expected a refusal")
            elif status in (403, 500):
                wrong.append(f"{role} {method} {path}: {status}")
            elif status != 303 and "text/html" not in response.headers.get("content-type", ""):
                wrong.append(f"{role} {method} {path}: answered {status} in something but HTML")
    assert wrong == []


async def test_an_address_the_console_does_not_know_is_a_page_in_words_not_json(
    browsers: dict[str, tuple[httpx.AsyncClient, str]], client: httpx.AsyncClient
) -> None:
    browser, _ = browsers["focal_point"]
    for who in (browser, client):
        response = await who.get("/console/no-such-page/at/all")
        assert response.status_code == 404
        assert "text/html" in response.headers["content-type"]
        assert "does not name anything in the console" in response.text
