"""Signed checkpoints: written every N events by the periodic step, and on demand."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from contracts.audit_chain import SignedCheckpoint
from contracts.envelope import verify_json
from contracts.keys import parse_public_jwk
from kit.db.base import utcnow
from services.agencies import service as hosting
from services.audit import service as audit
from services.audit.models import AuditCheckpoint, AuditEvent
from services.audit.worker import Checkpointer
from services.keys import store as agency_keys
from tests.services.audit.conftest import CHECKPOINT_EVERY
from tests.support.identity import bearer, client_token, seed_client


async def _record(app: FastAPI, count: int, agency: str = "unhcr") -> None:
    async with app.state.db.sessions.begin() as session:
        for _ in range(count):
            await audit.record(
                session,
                agency=agency,
                principal=None,
                action="case.read",
                subject_type="case",
                subject_id="c",
            )


async def _checkpointed(app: FastAPI, agency: str = "unhcr") -> list[int]:
    async with app.state.db.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(AuditCheckpoint.seq)
                    .where(AuditCheckpoint.agency == agency)
                    .order_by(AuditCheckpoint.seq)
                )
            ).all()
        )


def _checkpointer(app: FastAPI) -> Checkpointer:
    return Checkpointer(app.state.db, app.state.master_key, app.state.settings)


async def test_the_periodic_step_checkpoints_a_chain_every_n_events(client, app, agencies) -> None:
    step = _checkpointer(app).step
    await _record(app, 2)
    assert await step() == 1, "a chain never checkpointed is checkpointed at once"
    await _record(app, CHECKPOINT_EVERY - 1)
    assert await step() == 0
    await _record(app, 1)
    assert await step() == 1
    assert await step() == 0, "nothing new, nothing signed"
    assert await _checkpointed(app) == [2, 2 + CHECKPOINT_EVERY]


async def test_a_quiet_chain_is_checkpointed_once_its_checkpoint_is_old(
    client, app, agencies
) -> None:
    await _record(app, 1)
    await _checkpointer(app).step()
    await _record(app, 1)
    max_age = timedelta(hours=1)
    async with app.state.db.sessions.begin() as session:
        kwargs = {"master_key": app.state.master_key, "every": 100, "max_age": max_age}
        assert await audit.checkpoint_due(session, **kwargs) == []
        later = utcnow() + max_age
        [row] = await audit.checkpoint_due(session, now=later, **kwargs)
    assert row.seq == 2


async def test_each_agency_has_its_own_checkpoints(client, app, agencies) -> None:
    await _record(app, 3, "unhcr")
    await _record(app, 1, "iom")
    assert await _checkpointer(app).step() == 2
    assert await _checkpointed(app, "unhcr") == [3]
    assert await _checkpointed(app, "iom") == [1]


async def test_an_agency_without_keys_does_not_stop_the_others_checkpoints(
    client, app, agencies
) -> None:
    async with app.state.db.sessions.begin() as session:
        await hosting.ensure_hosted(session, slug="ilo", name="ILO")  # and no keys
    await _record(app, 1, "ilo")
    await _record(app, 1, "unhcr")
    assert await _checkpointer(app).step() == 1
    assert await _checkpointed(app, "unhcr") == [1]


@pytest.mark.fresh_database  # two transactions at once
async def test_racing_checkpointers_sign_the_head_once(client, app, agencies) -> None:
    await _record(app, 3)
    first, second = _checkpointer(app), _checkpointer(app)
    counts = await asyncio.gather(first.step(), second.step())
    assert sorted(counts) == [0, 1]
    assert await _checkpointed(app) == [3]


async def test_an_auditor_asks_for_a_checkpoint_that_verifies_with_the_published_key(
    client, app, auditor
) -> None:
    await _record(app, 3)
    response = await client.post("/v1/audit/checkpoints", headers=auditor)
    assert response.status_code == 201, response.text
    document = response.json()
    assert set(document) == {"agency", "seq", "hash", "at", "signature"}
    assert document["agency"] == "unhcr"
    assert document["seq"] == 4, "the request is recorded first, and the checkpoint covers it"
    async with app.state.db.sessions() as session:
        jwks = await agency_keys.public_jwks(session, agency="unhcr")
        request = (await session.scalars(select(AuditEvent).where(AuditEvent.seq == 4))).one()
    assert request.action == "audit.checkpoint"
    assert request.hash == document["hash"]
    [key] = [
        parse_public_jwk(jwk) for jwk in jwks["keys"] if jwk["kid"] == document["signature"]["kid"]
    ]
    signed = SignedCheckpoint.model_validate(document)
    unsigned = {name: document[name] for name in ("agency", "seq", "hash", "at")}
    verify_json(unsigned, signed.signature, key)


async def test_an_admin_may_ask_for_a_checkpoint(client, app, agencies) -> None:
    admin = await seed_client(app, "unhcr", scopes=["audit:read"], roles=["admin"])
    response = await client.post(
        "/v1/audit/checkpoints", headers=bearer(await client_token(client, admin))
    )
    assert response.status_code == 201, response.text
    assert response.json()["seq"] == 1


async def test_a_checkpoint_for_an_agency_without_a_signing_key_is_a_conflict(
    client, app, agencies
) -> None:
    async with app.state.db.sessions.begin() as session:
        await hosting.ensure_hosted(session, slug="ilo", name="ILO")  # and no keys
    system = await seed_client(app, "ilo", scopes=["audit:read"], roles=["auditor"])
    response = await client.post(
        "/v1/audit/checkpoints", headers=bearer(await client_token(client, system))
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/no-signing-key"
    assert await _checkpointed(app, "ilo") == [], "nothing is written"
