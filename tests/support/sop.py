"""The demo federation in one process: every agency hosted on one node, set up through the
same public-API steps as ``accord demo`` (services.demo.setup), outboxes delivered between
polls."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from accord_client import AccordClient
from kit.settings import Settings
from services.app import create_app
from services.demo.scenarios import BOUND, OWNER, Agency, Driver
from services.demo.setup import Hosted, prepare
from services.federation.outbox import DeliveryWorker
from tests.support.app import serving
from tests.support.federation import join, member_settings, new_root_key
from tests.support.identity import BASE_URL, bearer, client_token, seed_client
from tests.support.worker import WorkerDatabase

ROOT = new_root_key()
AGENCIES = sorted({OWNER, *BOUND})


@dataclass(frozen=True)
class Prepared:
    """The demo federation, committed once into a database that tests then share, each in a
    transaction rolled back at its end: eight agencies joining and signing one agreement took
    1 to 3 s per test, for some seventy tests on each backend."""

    database: WorkerDatabase
    directory: Path
    agencies: dict[str, Agency]
    admins: dict[str, dict[str, str]]
    programme_id: str
    agreement_id: str
    valid_until: str

    def settings(self) -> Settings:
        return member_settings(self.database.url, self.directory, ROOT)

    def federation(self, app: FastAPI, client: httpx.AsyncClient) -> dict[str, Any]:
        """What :func:`federation` returns, for a test's app on this database."""

        async def tick() -> None:
            await DeliveryWorker(app.state.federation).deliver_round()

        # The agencies' systems again, on this test's HTTP client (the one they were made
        # with is closed): the same API clients, each fetching its token anew.
        agencies = {
            slug: Agency(
                slug=a.slug,
                url=a.url,
                worker=_on(client, a.worker),
                focal_point=_on(client, a.focal_point),
            )
            for slug, a in self.agencies.items()
        }
        return {
            "driver": Driver(client, agencies, timeout=30, tick=tick),
            "programme_id": self.programme_id,
            "agreement_id": self.agreement_id,
            "valid_until": self.valid_until,
            "admins": self.admins,
        }


def _on(http: httpx.AsyncClient, system: AccordClient) -> AccordClient:
    assert system.tokens is not None
    return AccordClient(system.base_url, system.tokens.credentials, http=http)


def prepare_once(url: str, directory: Path, **engine_options: Any) -> Prepared:
    """Set the demo federation up on the migrated database ``url``, committed, with its
    directory in ``directory``. Runs its own event loop in a thread of its own, so that it can
    be called from a session fixture whatever loop the calling test runs."""

    async def build() -> dict[str, Any]:
        # Tokens outlive the run: the tests that use them start minutes later.
        settings = member_settings(url, directory, ROOT, access_token_ttl_seconds=3600)
        app = create_app(settings)
        async with serving(app, BASE_URL) as client:
            return await federation(app, client, directory)

    with ThreadPoolExecutor(max_workers=1) as thread:
        made = thread.submit(asyncio.run, build()).result()
    return Prepared(
        database=WorkerDatabase.at(url, **engine_options),
        directory=directory,
        agencies=made["driver"].agencies,
        admins=made["admins"],
        programme_id=made["programme_id"],
        agreement_id=made["agreement_id"],
        valid_until=made["valid_until"],
    )


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
