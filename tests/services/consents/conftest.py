from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.support.cases import CallerFactory, caller_factory, seed_agencies


@pytest.fixture
async def caller(client: httpx.AsyncClient, app: FastAPI) -> CallerFactory:
    await seed_agencies(app)
    return caller_factory(app, client)
