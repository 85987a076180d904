"""A pooled connection is lent again without a ping while it is in steady use (the ping is a
round trip of its own on every request, issue 19), but one that sat idle is pinged first: a
PostgreSQL restart, or a link a firewall dropped, costs no request an error."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text

from kit.db import engine as engines
from tests.support.identity import bearer, client_token, seed_agency, seed_client

# SQLite has no server to lose: its connections are files.
pytestmark = [pytest.mark.fresh_database, pytest.mark.parametrize("backend", ["postgresql"])]


async def _terminate_the_pool(app: FastAPI) -> int:
    """Ends every server process behind this app's pooled connections, as a restart would."""
    async with app.state.db.connect() as connection:
        ended = await connection.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
        )
    return int(ended or 0)


async def test_a_connection_idle_past_the_threshold_that_the_server_dropped_costs_no_request(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_agency(app, "unhcr")
    headers = bearer(await client_token(client, await seed_client(app, "unhcr")))
    assert (await client.get("/v1/referrals", headers=headers)).status_code == 200
    assert await _terminate_the_pool(app) >= 1
    # Every pooled connection now counts as idle: the next checkouts ping, find them dead and
    # connect afresh.
    monkeypatch.setattr(engines, "IDLE_PING_SECONDS", -1.0)
    for _ in range(3):
        response = await client.get("/v1/referrals", headers=headers)
        assert response.status_code == 200, response.text


async def test_a_connection_in_steady_use_is_lent_without_a_ping(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_agency(app, "unhcr")
    headers = bearer(await client_token(client, await seed_client(app, "unhcr")))
    assert (await client.get("/v1/referrals", headers=headers)).status_code == 200
    sent: list[str] = []
    sync_engine = app.state.db._engine.sync_engine

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    pings: list[object] = []
    original = sync_engine.dialect.do_ping

    def ping(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return bool(original(dbapi_connection))

    monkeypatch.setattr(sync_engine.dialect, "do_ping", ping)
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        response = await client.get("/v1/referrals", headers=headers)
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.text
    assert pings == []
    assert sent, "the listing ran its statements"
