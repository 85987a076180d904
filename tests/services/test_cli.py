"""The operator's command line: fixed command names, JSON output that scripts can parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
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


def test_init_names_the_state_a_government_acts_for_in_its_directory_entry(
    tmp_path: Path,
) -> None:
    env = {
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'node.db'}",
        "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
        "PYTHONPATH": os.getcwd(),
    }
    result = _accord(
        "init",
        "--agency",
        "gov-xk=Kosovo MIA",
        "--country",
        "gov-xk=XKX",
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    member = json.loads(result.stdout)["agencies"][0]["member"]
    assert (member["kind"], member["country"]) == ("government", "XKX")
    bad = _accord(
        "init", "--agency", "gov-xk=Kosovo MIA", "--country", "gov-xk=XK", env=env, cwd=tmp_path
    )
    assert bad.returncode == 2
    assert "SLUG=ISO3" in bad.stderr


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


def test_serve_in_dev_advertises_the_address_it_listens_on(tmp_path: Path) -> None:
    import time

    import httpx

    from services.demo.nodes import free_port

    port = free_port()
    env = {
        **os.environ,
        "ACCORD_ENV": "dev",
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'node.db'}",
        "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
        "PYTHONPATH": os.getcwd(),
    }
    env.pop("ACCORD_PUBLIC_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--migrate"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        metadata = None
        while metadata is None:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server"
                )
                metadata = response.json()
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the node did not start"
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert metadata["issuer"] == f"http://127.0.0.1:{port}"
    assert metadata["jwks_uri"] == f"http://127.0.0.1:{port}/.well-known/jwks.json"


def test_serve_in_prod_without_a_public_url_refuses_to_start(tmp_path: Path) -> None:
    env = {"ACCORD_ENV": "prod", "PYTHONPATH": os.getcwd()}
    run = subprocess.run(
        [sys.executable, "-m", "services.cli", "serve", "--port", "8123"],
        env={k: v for k, v in {**os.environ, **env}.items() if k != "ACCORD_PUBLIC_URL"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "ACCORD_PUBLIC_URL is not set" in run.stderr


def test_the_advertised_url_is_the_listening_address_only_when_none_is_set() -> None:
    from kit.settings import Settings
    from services.cli import advertised_url

    dev = Settings(env="dev", _env_file=None)
    assert advertised_url(dev, host="0.0.0.0", port=9000) == "http://127.0.0.1:9000"  # noqa: S104
    assert advertised_url(dev, host="::", port=9000) == "http://[::1]:9000"
    assert advertised_url(dev, host="10.1.2.3", port=80) == "http://10.1.2.3:80"
    told = Settings(env="prod", public_url="https://accord.example.org/", _env_file=None)
    assert advertised_url(told, host="0.0.0.0", port=9000) == "https://accord.example.org"  # noqa: S104


def _command_paths() -> list[list[str]]:
    from typer.main import get_command

    def walk(command: Any, path: list[str]) -> list[list[str]]:
        found = [path]
        # typer vendors its own click: a group is whatever has sub-commands.
        for name, sub in (getattr(command, "commands", None) or {}).items():
            found += walk(sub, [*path, name])
        return found

    return walk(get_command(cli), [])


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "accord")
def test_help_shows_flags_as_flags_not_as_bool_values(path: list[str]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=120)
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output


def test_init_refuses_a_time_zone_that_is_not_an_iana_name(tmp_path: Path) -> None:
    result = runner.invoke(
        cli,
        ["init", "--agency", "iom=IOM", "--time-zone", "iom=Mars/Olympus"],
        env={"ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'node.db'}"},
    )
    assert result.exit_code == 2
    assert "SLUG=ZONE" in result.output
    assert not (tmp_path / "node.db").exists()
