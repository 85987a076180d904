from __future__ import annotations

from pathlib import Path

import pytest

from services.settings import Settings
from tests.support.app import make_settings
from tests.support.federation import root_setting
from tests.support.referrals import ROOT


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A node in a federation whose delivery the test drives, like the referral tests'."""
    return make_settings(
        database_url,
        directory=str(tmp_path / "directory.json"),
        directory_root_key=root_setting(ROOT),
        delivery_worker=False,
        referral_sweep_seconds=0,
    )
