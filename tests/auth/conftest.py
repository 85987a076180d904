from __future__ import annotations

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import FastAPI

from tests.support.identity import BASE_URL, SeededClient, seed_agency, seed_client


@pytest.fixture
async def agencies(client: httpx.AsyncClient, app: FastAPI) -> list[str]:
    """Two agencies sharing one node: the setting where tenancy matters most."""
    for slug in ("unhcr", "iom"):
        await seed_agency(app, slug)
    return ["unhcr", "iom"]


@pytest.fixture
async def unhcr_system(app: FastAPI, agencies: list[str]) -> SeededClient:
    return await seed_client(app, "unhcr")


def oauth_client(app: FastAPI, **kwargs: object) -> AsyncOAuth2Client:
    """authlib's standard OAuth client, talking to the app in-process."""
    return AsyncOAuth2Client(transport=httpx.ASGITransport(app=app), base_url=BASE_URL, **kwargs)
