"""A request holds one pooled connection at a time (issue 19): the caller's token is read in a
transaction that ends before the handler's begins. Holding two at once, 16 concurrent listings
per worker exhausted the pool, each waiting for its second connection, until the pool timed
out; and on SQLite the token's read held the write lock for the whole of a read-only request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from tests.support.identity import bearer, client_token, seed_agency, seed_client

pytestmark = pytest.mark.fresh_database


class Held:
    """How many of the pool's connections are checked out, and the most at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    def out(self, *_: Any) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    def back(self, *_: Any) -> None:
        self.now -= 1


@pytest.mark.parametrize("path", ["/v1/referrals", "/v1/events"])
async def test_a_listing_holds_one_pooled_connection_at_a_time(
    app: FastAPI, client: httpx.AsyncClient, path: str
) -> None:
    await seed_agency(app, "unhcr")
    headers = bearer(await client_token(client, await seed_client(app, "unhcr")))
    pool = app.state.db._engine.sync_engine.pool
    held = Held()
    event.listen(pool, "checkout", held.out)
    event.listen(pool, "checkin", held.back)
    try:
        response = await client.get(path, headers=headers)
    finally:
        event.remove(pool, "checkout", held.out)
        event.remove(pool, "checkin", held.back)
    assert response.status_code == 200, response.text
    assert held.most == 1
