from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from kit.settings import Settings
from tests.support.app import make_settings
from tests.support.identity import bearer, client_token, seed_agency, seed_client

#: Small enough that a test reaches it; the periodic loop is off so tests drive each step.
CHECKPOINT_EVERY = 5


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        audit_checkpoint_every=CHECKPOINT_EVERY,
        audit_checkpoint_interval_seconds=0,
    )


@pytest.fixture
async def agencies(client: httpx.AsyncClient, app: FastAPI) -> list[str]:
    """Two agencies sharing one node, each with its keys."""
    for slug in ("unhcr", "iom"):
        await seed_agency(app, slug)
    return ["unhcr", "iom"]


@pytest.fixture
async def auditor(client: httpx.AsyncClient, app: FastAPI, agencies: list[str]) -> dict[str, str]:
    """Headers of an auditor's system at unhcr."""
    system = await seed_client(app, "unhcr", scopes=["audit:read"], roles=["auditor"])
    return bearer(await client_token(client, system))
