"""The fixtures of the journey and household tests: the demo federation on one node (UNHCR
owns the cases), prepared once per worker and backend (``tests/services/conftest.py``) and
shared by each test in a rolled-back transaction. A conftest imports all three."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.settings import Settings
from tests.conftest import fresh_database_wanted
from tests.support.federation import member_settings
from tests.support.sop import ROOT, every_journey_has_a_next_step, federation


@pytest.fixture
def shared_database(backend: str, request: pytest.FixtureRequest, prepared_federations):
    """The demo federation, set up once for this worker (tests/services/conftest.py)."""
    return prepared_federations.of(backend).database


@pytest.fixture
def settings(
    backend: str, database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Settings:
    if fresh_database_wanted(request):
        return member_settings(database_url, tmp_path, ROOT)
    return request.getfixturevalue("prepared_federations").of(backend).settings()


@pytest.fixture
async def sop(app, client, tmp_path: Path, backend: str, request: pytest.FixtureRequest):
    if fresh_database_wanted(request):
        yield await federation(app, client, tmp_path)
    else:
        yield request.getfixturevalue("prepared_federations").of(backend).federation(app, client)
    # Whatever the test did, every journey it leaves open has someone to act (issue 16).
    assert await every_journey_has_a_next_step(app) == []
