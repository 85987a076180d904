"""The compose example keeps each node's secrets to that node: its own master key, database
role and password; no node can read the federation root key (docker is not available where the
suite runs, so the file itself is checked)."""

from __future__ import annotations

from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
NODES = ("node-a", "node-b")


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _volumes(service: dict) -> dict[str, str]:
    """``{volume or path: mount point}`` of a service."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target, *_ = entry.split(":")
        mounts[source] = target
    return mounts


def test_each_node_has_its_own_master_key_and_database_credentials() -> None:
    services = _compose()["services"]
    keys, databases = set(), set()
    for name in NODES:
        node = services[name]
        env = node["environment"]
        key_file = env["ACCORD_MASTER_KEY_FILE"]
        [holding] = [v for v, target in _volumes(node).items() if key_file.startswith(target)]
        keys.add(holding)
        others = [n for n in NODES if n != name]
        assert all(holding not in _volumes(services[o]) for o in others), name
        databases.add(env["ACCORD_DATABASE_URL"].split("@")[0])
    assert len(keys) == len(NODES), "one master key volume per node"
    assert len(databases) == len(NODES), "one database role and password per node"


def test_no_node_can_read_the_federation_root_key() -> None:
    services = _compose()["services"]
    script = (DOCKER / "federate.sh").read_text()
    assert "--out /root-key/root.key" in script, "the root key is written to its own volume"
    assert "root-key" in _volumes(services["setup"])
    for name, service in services.items():
        if name != "setup":
            assert "root-key" not in _volumes(service), name
    for name in NODES:
        assert services[name]["environment"]["ACCORD_DIRECTORY_ROOT_KEY"].endswith(".jwk")
