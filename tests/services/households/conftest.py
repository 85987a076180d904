from __future__ import annotations

from pathlib import Path

import pytest

from kit.settings import Settings
from tests.support.federation import member_settings
from tests.support.sop import ROOT, every_journey_has_a_next_step, federation


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return member_settings(database_url, tmp_path, ROOT)


@pytest.fixture
async def sop(app, client, tmp_path: Path):
    """The demo federation on one node (as tests/services/journeys): UNHCR owns the cases."""
    yield await federation(app, client, tmp_path)
    # Whatever the test did, every journey it leaves open has someone to act (issue 16).
    assert await every_journey_has_a_next_step(app) == []
