"""The console's CSRF token is masked afresh in every page (BREACH): compressed pages never
repeat the session's secret, so an observer of their sizes cannot guess it byte by byte."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from auth.csrf import mask, new_secret
from auth.models import ConsoleSession
from tests.support.console import csrf_of, signed_in, submit
from tests.support.federation import join
from tests.support.identity import seed_user
from tests.support.markers import sqlite_only
from tests.support.referrals import ROOT

pytestmark = sqlite_only


async def test_two_renders_carry_different_tokens_both_accepted_and_a_forged_one_refused(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await join(app, tmp_path / "directory.json", ROOT, "http://testserver", ["unhcr"])
    admin = await seed_user(app, "unhcr", "admin@unhcr.test", roles=["admin"])
    first = await signed_in(client, admin)
    users = await client.get("/console/users", headers={"Accept-Encoding": "gzip"})
    assert users.headers["content-encoding"] == "gzip", "the page this is about is compressed"
    assert users.headers["cache-control"] == "no-store"
    second = csrf_of(users.text)
    assert first != second

    async with app.state.db.sessions() as session:
        secret = (await session.execute(select(ConsoleSession.csrf_token))).scalar_one()
    for page in ("/console", "/console/users", "/console/agreements/new"):
        assert secret not in (await client.get(page)).text, page

    for token in (first, second):
        # Past the CSRF check: the form itself is refused, in words, at its fields.
        answered = await submit(client, "/console/users", token, email="not-an-email")
        assert answered.status_code == 422, answered.text

    forged = await submit(client, "/console/users", mask(new_secret()), email="not-an-email")
    assert forged.status_code == 403
    assert "did not come from this console" in forged.text
    assert (await submit(client, "/console/logout", mask(new_secret()))).status_code == 403

    signed_out = await submit(client, "/console/logout", second)
    assert signed_out.status_code == 303
    assert (await client.get("/console")).status_code == 303
