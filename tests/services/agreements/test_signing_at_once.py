"""Two parties sign at the same moment, on one node or as a party's signature arrives from its
node while the other party's admin signs here: both signatures are kept. Before, a signature
read the agreement without locking it, so the one that saved last wrote back the text as it
was before the other's signature, and the agreement stayed proposed at that node for good
while the other node held it active.

PostgreSQL only: SQLite runs one writing transaction at a time, so there the two cannot
overlap."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from services.agreements import service
from tests.support.agreements import terms
from tests.support.cases import system_principal

pytestmark = [pytest.mark.fresh_database, pytest.mark.parametrize("backend", ["postgresql"])]


async def _until_a_transaction_waits_for_a_lock(app: FastAPI) -> None:
    for _ in range(500):
        async with app.state.db.connect() as connection:
            waiting = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second signature never waited for the first")


async def test_two_parties_signing_at_once_keep_both_signatures(
    app: FastAPI, client, admins
) -> None:
    drafted = await client.post(
        "/v1/agreements", json=terms(["unhcr", "iom"]), headers=admins["unhcr"]
    )
    agreement_id = drafted.json()["id"]
    proposed = await client.post(f"/v1/agreements/{agreement_id}/propose", headers=admins["unhcr"])
    digest = proposed.json()["digest"]

    async with app.state.db.sessions() as held:
        # UNHCR's signature is written and not yet committed: its transaction holds the row.
        await service.sign(
            held,
            federation=app.state.federation,
            principal=system_principal("unhcr", roles={"admin"}),
            agreement_id=agreement_id,
            digest=digest,
        )
        iom_signs = asyncio.create_task(
            client.post(
                f"/v1/agreements/{agreement_id}/sign",
                json={"digest": digest},
                headers=admins["iom"],
            )
        )
        await _until_a_transaction_waits_for_a_lock(app)
        await held.commit()
    signed = await iom_signs
    assert signed.status_code == 200, signed.text

    seen = (await client.get(f"/v1/agreements/{agreement_id}", headers=admins["iom"])).json()
    assert sorted(s["agency"] for s in seen["signatures"]) == ["iom", "unhcr"]
    assert seen["status"] == "active"
