"""Appends from many transactions at once still make one gapless chain."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI

from services.audit import service as audit

APPENDS = 60
#: Many transactions at once: more than one connection can serve.
pytestmark = pytest.mark.fresh_database


async def _append(app: FastAPI, n: int) -> None:
    async with app.state.db.sessions.begin() as session:
        await audit.record(
            session,
            agency="unhcr",
            principal=None,
            action="case.read",
            subject_type="case",
            subject_id=n,
        )


async def test_concurrent_appends_make_a_gapless_valid_chain(client, app, agencies) -> None:
    # The chain starts empty, so the racing transactions also race to create its head.
    await asyncio.gather(*(_append(app, n) for n in range(APPENDS)))
    async with app.state.db.sessions() as session:
        result = await audit.verify(session, master_key=app.state.master_key, agency="unhcr")
        events = await audit.repository.chain(session, "unhcr")
    assert result.report.ok, result.report.finding
    assert [event.seq for event in events] == list(range(1, APPENDS + 1))
    assert sorted(event.subject_id for event in events) == sorted(str(n) for n in range(APPENDS))
    assert result.head is not None
    assert result.head.seq == APPENDS
