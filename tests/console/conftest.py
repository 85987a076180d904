from __future__ import annotations

from pathlib import Path

import pytest

from kit.settings import Settings
from tests.support.federation import member_settings
from tests.support.referrals import ROOT


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A node in a federation whose delivery the test drives, like the referral tests'."""
    return member_settings(database_url, tmp_path, ROOT)
