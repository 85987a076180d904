"""Operators rotate keys and sign and verify the directory from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.app import TEST_MASTER_KEY


def _accord(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, "PYTHONPATH": os.getcwd(), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_rotation_adds_keys_and_keeps_the_old_ones_published(tmp_path: Path) -> None:
    env = {
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}",
        "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
    }
    assert _accord("init", "--agency", "iom=IOM", "--json", cwd=tmp_path, env=env).returncode == 0
    before = json.loads(_accord("keys", "export", cwd=tmp_path, env=env).stdout)
    rotated = _accord(
        "keys",
        "rotate",
        "--kind",
        "iom=un_agency",
        "--node-url",
        "https://iom.example",
        cwd=tmp_path,
        env=env,
    )
    assert rotated.returncode == 0, rotated.stderr
    [member] = json.loads(rotated.stdout)["members"]
    assert member["kind"] == "un_agency"
    assert member["node_url"] == "https://iom.example"
    kids_before = {k["kid"] for k in before["members"][0]["jwks"]["keys"]}
    kids_after = {k["kid"] for k in member["jwks"]["keys"]}
    assert kids_before < kids_after
    assert len(kids_after) == 6, "a new key of each kind beside the old ones"
    uses = sorted(k.get("alg") or k["crv"] for k in member["jwks"]["keys"])
    assert uses.count("EdDSA") == 2
    assert all("d" not in key for key in member["jwks"]["keys"]), "only public keys"


def test_directory_sign_and_verify_round_trip(tmp_path: Path) -> None:
    keygen = _accord("directory", "keygen", "--out", str(tmp_path / "root.key"), cwd=tmp_path)
    assert keygen.returncode == 0, keygen.stderr
    (tmp_path / "root.jwk").write_text(keygen.stdout)
    env = {
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}",
        "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
    }
    _accord("init", "--agency", "unhcr=UNHCR", cwd=tmp_path, env=env)
    members = json.loads(_accord("keys", "export", cwd=tmp_path, env=env).stdout)["members"]
    (tmp_path / "unsigned.json").write_text(
        json.dumps({"federation": "test", "version": 1, "members": members})
    )
    signed = _accord(
        "directory",
        "sign",
        "unsigned.json",
        "--root-key",
        "root.key",
        "--out",
        "signed.json",
        cwd=tmp_path,
    )
    assert signed.returncode == 0, signed.stderr
    ok = _accord("directory", "verify", "signed.json", "--root", "root.jwk", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "version 1" in ok.stdout
    document = json.loads((tmp_path / "signed.json").read_text())
    document["members"][0]["node_url"] = "https://evil.example"
    (tmp_path / "tampered.json").write_text(json.dumps(document))
    bad = _accord("directory", "verify", "tampered.json", "--root", "root.jwk", cwd=tmp_path)
    assert bad.returncode == 1
    assert "does not verify" in bad.stderr
