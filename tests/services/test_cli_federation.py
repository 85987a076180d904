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


def _node_export(tmp_path: Path, name: str, agency: str, url: str) -> Path:
    """`accord init` then `accord keys export` on one node, in this process."""
    from typer.testing import CliRunner

    from services.cli import cli

    env = {
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / name}.db",
        "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--agency", agency, "--json"], env=env).exit_code == 0
    exported = runner.invoke(cli, ["keys", "export", "--node-url", url], env=env)
    assert exported.exit_code == 0, exported.output
    path = tmp_path / f"{name}-members.json"
    path.write_text(exported.stdout)
    return path


def test_two_nodes_exports_assemble_into_a_directory_the_root_key_signs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from services.cli import cli

    runner = CliRunner()
    a = _node_export(tmp_path, "a", "unhcr=UNHCR", "https://a.example")
    b = _node_export(tmp_path, "b", "gov-xk=Kosovo", "https://b.example")
    keygen = runner.invoke(cli, ["directory", "keygen", "--out", str(tmp_path / "root.key")])
    assert keygen.exit_code == 0, keygen.output
    pubkey = runner.invoke(cli, ["directory", "pubkey", str(tmp_path / "root.key")])
    assert pubkey.exit_code == 0, pubkey.output
    assert json.loads(pubkey.stdout) == json.loads(keygen.stdout)
    assert "d" not in json.loads(pubkey.stdout), "only the public key is printed"
    (tmp_path / "root.jwk").write_text(pubkey.stdout)

    args = ["directory", "assemble", str(a), str(b), "--federation", "pilot", "--version", "1"]
    unnamed = runner.invoke(cli, args)
    assert unnamed.exit_code == 1, "a government must name the state it acts for"
    assert "country" in unnamed.output
    assembled = runner.invoke(
        cli,
        [
            *args,
            "--country",
            "gov-xk=XKX",
            "--name",
            "gov-xk=Kosovo, Ministry of Internal Affairs",
            "--out",
            str(tmp_path / "unsigned.json"),
        ],
    )
    assert assembled.exit_code == 0, assembled.output
    document = json.loads((tmp_path / "unsigned.json").read_text())
    assert "signature" not in document
    assert [(m["agency"], m["node_url"]) for m in document["members"]] == [
        ("gov-xk", "https://b.example"),
        ("unhcr", "https://a.example"),
    ]
    assert document["members"][0]["country"] == "XKX"
    signed = runner.invoke(
        cli,
        [
            "directory",
            "sign",
            str(tmp_path / "unsigned.json"),
            "--root-key",
            str(tmp_path / "root.key"),
            "--out",
            str(tmp_path / "directory.json"),
        ],
    )
    assert signed.exit_code == 0, signed.output
    verified = runner.invoke(
        cli,
        [
            "directory",
            "verify",
            str(tmp_path / "directory.json"),
            "--root",
            str(tmp_path / "root.jwk"),
        ],
    )
    assert verified.exit_code == 0, verified.output
    assert "2 member(s), signature valid" in verified.stdout
