"""Secrets, passwords and tokens never reach the log, whatever the outcome."""

from __future__ import annotations

import pytest

from tests.support.identity import bearer, client_token, seed_user, sign_in
from tests.support.markers import sqlite_only


@sqlite_only
async def test_credentials_and_tokens_are_not_logged(
    app, client, unhcr_system, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    person = await seed_user(app, "unhcr", "fp@unhcr.example", roles=["focal_point"])
    capsys.readouterr()
    token = await client_token(client, unhcr_system)
    await client.get("/v1/users", headers=bearer(token))
    await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(unhcr_system.client_id, "a-wrong-secret-value"),
    )
    await sign_in(client, person)
    wrong = type(person)(
        id=person.id, email=person.email, password="wrong-password-xyz", agency="unhcr"
    )
    await sign_in(client, wrong)
    logged = capsys.readouterr().out + caplog.text
    assert '"event": "request"' in logged, "the requests were logged"
    for secret in (
        unhcr_system.client_secret,
        "a-wrong-secret-value",
        person.password,
        "wrong-password-xyz",
        token,
        person.email,
    ):
        assert secret not in logged
