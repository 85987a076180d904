from __future__ import annotations

from pathlib import Path

import pytest

from kit.settings import Settings
from tests.support.federation import member_settings
from tests.support.referrals import ROOT, Exchange, exchange


@pytest.fixture
def backend() -> str:
    # The client is tested against the node's HTTP API, which both backends serve alike
    # (tests/services prove that); one is enough here and keeps these tests cheap.
    return "sqlite"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return member_settings(database_url, tmp_path, ROOT)


@pytest.fixture
async def ex(app, client, tmp_path: Path) -> Exchange:
    return await exchange(app, client, tmp_path)
