"""The demo federation in one process: every agency hosted on one node, set up through the
same public-API steps as ``accord demo`` (services.demo.setup), outboxes delivered between
polls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from services.demo.scenarios import BOUND, OWNER
from services.demo.setup import Hosted, prepare
from services.federation.outbox import DeliveryWorker
from tests.support.federation import join, new_root_key
from tests.support.identity import BASE_URL, bearer, client_token, seed_client

ROOT = new_root_key()
AGENCIES = sorted({OWNER, *BOUND})


async def federation(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> dict[str, Any]:
    await join(app, tmp_path / "directory.json", ROOT, BASE_URL, AGENCIES)
    hosted, admins = [], {}
    for agency in AGENCIES:
        system = await seed_client(app, agency)
        hosted.append(Hosted(agency, BASE_URL, system.client_id, system.client_secret or ""))
        admins[agency] = bearer(await client_token(client, system))

    async def tick() -> None:
        await DeliveryWorker(app.state.federation).deliver_round()

    # The joint programme only: tests of the host authority's own process set theirs up.
    prepared = await prepare(
        client, hosted, people=False, tick=tick, patience=30, enforcement=False
    )
    return {
        "driver": prepared.driver,
        "programme_id": prepared.programme_id,
        "agreement_id": prepared.agreement_id,
        "valid_until": prepared.valid_until,
        "admins": admins,
    }


async def every_journey_has_a_next_step(app: FastAPI) -> list[str]:
    """Issue 16: no open journey is left without someone to act. Each waits for an acting
    agency, or needs attention with every reason naming the agency that must act. Returns
    what breaks that, one line per journey (empty when all hold)."""
    from sqlalchemy import select

    from services.journeys import service as journeys
    from services.journeys.models import Journey
    from services.journeys.schemas import JourneyOut
    from tests.support.cases import system_principal

    stuck = []
    async with app.state.db.sessions() as session:
        for journey in (await session.scalars(select(Journey))).all():
            view = JourneyOut.from_view(
                await journeys.view(
                    session, principal=system_principal(journey.agency), journey=journey
                )
            )
            if view.ended:
                continue
            reasons = view.needs_attention or []
            if any(not r.who for r in reasons) or (view.acting_agency is None and not reasons):
                stuck.append(f"{view.id} at {view.stage}: {reasons}")
    return stuck
