"""Console sessions: the cookie's flags, idle and absolute expiry, and signing out."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from auth.models import ConsoleSession
from kit.db.base import utcnow
from tests.support.app import make_settings, serving
from tests.support.console import signed_in, submit
from tests.support.identity import seed_agency, seed_user, sign_in
from tests.support.markers import sqlite_only

pytestmark = sqlite_only


async def _person(app: FastAPI):
    await seed_agency(app, "unhcr")
    return await seed_user(app, "unhcr", "fp@unhcr.test", roles=["focal_point"])


async def test_the_session_cookie_is_httponly_and_samesite_lax(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await sign_in(client, await _person(app))
    cookie = response.headers["set-cookie"]
    assert "accord_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie, "plain HTTP in this test: a Secure cookie would never return"


async def test_the_session_cookie_is_secure_when_served_over_tls(
    database_url: str, make_app
) -> None:
    app = make_app(make_settings(database_url, public_url="https://accord.example.org"))
    async with serving(app) as http:
        response = await sign_in(http, await _person(app))
        assert "Secure" in response.headers["set-cookie"]


async def test_a_session_idle_too_long_or_too_old_ends(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    person = await _person(app)
    idle = app.state.settings.session_idle_seconds
    await signed_in(client, person)
    async with app.state.db.sessions.begin() as session:
        await session.execute(
            update(ConsoleSession).values(last_seen_at=utcnow() - timedelta(seconds=idle + 60))
        )
    assert (await client.get("/console")).status_code == 303

    await signed_in(client, person)
    async with app.state.db.sessions.begin() as session:
        await session.execute(
            update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await client.get("/console")).status_code == 303, "absolute expiry, even if active"


async def test_signing_out_ends_the_session(app: FastAPI, client: httpx.AsyncClient) -> None:
    csrf = await signed_in(client, await _person(app))
    signed_out = await submit(client, "/console/logout", csrf)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/console/login"
    assert (await client.get("/console")).status_code == 303


async def test_signing_out_needs_the_forms_csrf_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await signed_in(client, await _person(app))
    forged = await submit(client, "/console/logout", "a token another site guessed")
    assert forged.status_code == 403
    assert (await client.get("/console")).status_code == 200, "still signed in"


async def test_console_pages_carry_headers_that_keep_them_to_themselves(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    login = await client.get("/console/login")
    await signed_in(client, await _person(app))
    pages = [login] + [
        await client.get(path) for path in ("/console", "/console/referrals", "/console/audit")
    ]
    for page in pages:
        headers = page.headers
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy, "no script from anywhere"
        assert "script-src" not in policy
        assert "'unsafe-inline'" not in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        for inline in ("<style", "<script", " style="):
            assert inline not in page.text, inline
    for sheet in ("/console/console.css", "/console/login.css"):
        css = await client.get(sheet)
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert css.headers["cache-control"].startswith("public")
