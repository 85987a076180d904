from __future__ import annotations

from pathlib import Path

import pytest

from kit.settings import Settings
from tests.services.federation.conftest import ROOT, Outsider
from tests.support.app import make_settings
from tests.support.federation import join, root_setting
from tests.support.identity import BASE_URL, bearer, client_token, seed_client


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url,
        directory=str(tmp_path / "directory.json"),
        directory_root_key=root_setting(ROOT),
        delivery_worker=False,
    )


@pytest.fixture
async def node(app, client, tmp_path: Path):
    """UNHCR and IOM share this node; NGO X is a party elsewhere."""
    outsider = Outsider()
    await join(
        app,
        tmp_path / "directory.json",
        ROOT,
        BASE_URL,
        ["unhcr", "iom"],
        others=[outsider.member()],
    )
    return outsider


@pytest.fixture
async def admins(app, client, node) -> dict[str, dict[str, str]]:
    tokens = {}
    for agency in ("unhcr", "iom"):
        system = await seed_client(app, agency)
        tokens[agency] = bearer(await client_token(client, system))
    return tokens


@pytest.fixture
async def focal_point_token(app, client, node) -> dict[str, str]:
    system = await seed_client(app, "unhcr", roles=["focal_point"])
    return bearer(await client_token(client, system))
