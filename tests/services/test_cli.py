"""The operator's command line: fixed command names, JSON output that scripts can parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from services.cli import cli
from tests.support.app import TEST_MASTER_KEY

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("init", "serve", "demo", "sop"):
        assert command in result.output


def _accord(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_init_migrates_and_registers_agencies_as_json(tmp_path: Path) -> None:
    env = {
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'node.db'}",
        "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
        "PYTHONPATH": os.getcwd(),
    }
    first = _accord(
        "init", "--agency", "unhcr=UNHCR", "--agency", "iom=IOM", "--json", env=env, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    agencies = json.loads(first.stdout)["agencies"]
    assert [(a["agency"], a["name"], a["created"]) for a in agencies] == [
        ("unhcr", "UNHCR", True),
        ("iom", "IOM", True),
    ]
    for entry in agencies:
        assert entry["admin"]["email"] == f"admin@{entry['agency']}.accord.invalid"
        assert len(entry["admin"]["password"]) >= 20
        assert entry["client"]["client_id"] == f"{entry['agency']}-admin"
        assert len(entry["client"]["client_secret"]) >= 40
        assert "referrals:approve" in entry["client"]["scopes"]
    again = json.loads(
        _accord("init", "--agency", "unhcr=UNHCR", "--json", env=env, cwd=tmp_path).stdout
    )["agencies"][0]
    assert again["created"] is False
    assert again["admin"]["password"] is None, "secrets are shown only once"
    assert again["client"]["client_secret"] is None


def test_init_refuses_a_bad_agency_slug(tmp_path: Path) -> None:
    env = {
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'node.db'}",
        "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
        "PYTHONPATH": os.getcwd(),
    }
    result = _accord("init", "--agency", "UN HCR=UNHCR", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "not an agency slug" in result.stderr
    assert not (tmp_path / "node.db").exists()
