"""Real nodes on 127.0.0.1: each initialised as ``accord init`` does it, a directory signed with a
test root, ``accord serve`` in child processes, ``accord keys export`` through the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kit.settings import Settings
from services.demo.nodes import NodeProcess
from services.demo.scenarios import COUNTRIES
from services.init import initialise_node
from tests.support.app import TEST_MASTER_KEY
from tests.support.federation import new_root_key, root_setting, write_directory

FAST_NODE_ENV = {
    "ACCORD_ENV": "dev",
    "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
    "ACCORD_LOG_LEVEL": "WARNING",
    "ACCORD_DIRECTORY_REFRESH_SECONDS": "0.5",
    "ACCORD_OUTBOX_POLL_SECONDS": "0.05",
    "ACCORD_DELIVERY_BACKOFF_BASE_SECONDS": "0.05",
    "ACCORD_DELIVERY_BACKOFF_CAP_SECONDS": "0.5",
    "ACCORD_DELIVERY_TIMEOUT_SECONDS": "5",
    "ACCORD_DELIVERY_LEASE_SECONDS": "6",
    # The cheap Argon2 profile of the other tests (tests/support/app.py): `init` hashes each
    # first admin's password, and these nodes never check one.
    "ACCORD_PASSWORD_TIME_COST": "1",
    "ACCORD_PASSWORD_MEMORY_COST_KIB": "8",
    "ACCORD_PASSWORD_PARALLELISM": "1",
}


def accord(*args: str, env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"accord {' '.join(args)} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@dataclass
class Node:
    name: str
    agencies: list[str]
    database_url: str
    process: NodeProcess
    credentials: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.process.url

    def token(self, agency: str) -> str:
        cached = self._tokens.get(agency)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        client = self.credentials[agency]["client"]
        response = httpx.post(
            f"{self.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
            timeout=10,
        )
        response.raise_for_status()
        token = str(response.json()["access_token"])
        self._tokens[agency] = (token, time.monotonic() + 300)
        return token

    def api(self, agency: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token(agency)}"},
            timeout=30,
        )


def every_item(api: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list operation, newest first, page after page (at most 200 a page)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 200, **params} | ({"cursor": cursor} if cursor else {})
        page = api.get(path, params=query).json()
        items += page["items"]
        if (cursor := page["next_cursor"]) is None:
            return items


class Cluster:
    def __init__(self, root_dir: Path, database_url_for: Callable[[str], str]) -> None:
        self.root_dir = root_dir
        self.database_url_for = database_url_for
        self.root = new_root_key()
        self.directory_path = root_dir / "directory.json"
        self.nodes: dict[str, Node] = {}
        self.version = 0

    def env_for(self, node: Node) -> dict[str, str]:
        return {
            **FAST_NODE_ENV,
            "ACCORD_DATABASE_URL": node.database_url,
            "ACCORD_PUBLIC_URL": node.url,
            "ACCORD_DIRECTORY": str(self.directory_path),
            "ACCORD_DIRECTORY_ROOT_KEY": root_setting(self.root),
        }

    def add_node(self, name: str, agencies: list[str]) -> Node:
        database_url = self.database_url_for(name)
        process = NodeProcess(name=name, env={}, log_path=self.root_dir / f"{name}.log")
        node = Node(name=name, agencies=agencies, database_url=database_url, process=process)
        process.env = self.env_for(node)
        self.nodes[name] = node
        return node

    def _init(self, node: Node) -> None:
        # What `accord init` does, in this process: a child interpreter would spend two seconds
        # importing the app first. The command itself is tested in tests/services/test_cli.py.
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            **{
                name.removeprefix("ACCORD_").lower(): value
                for name, value in node.process.env.items()
                if name.startswith("ACCORD_")
            },
        )
        hosted = [(agency, agency.upper()) for agency in node.agencies]
        countries = {a: COUNTRIES[a] for a in node.agencies if a in COUNTRIES}
        result = asyncio.run(initialise_node(settings, hosted, countries=countries))
        for entry in result["agencies"]:
            node.credentials[entry["agency"]] = entry

    def publish(self, *, export: bool = False) -> None:
        """Sign a new directory version listing every node's agencies and current keys
        (as ``accord init`` printed them, or freshly exported after a rotation)."""
        for node in self.nodes.values():
            if not node.credentials:
                self._init(node)
        members = []
        for node in self.nodes.values():
            if export:
                members += accord("keys", "export", "--node-url", node.url, env=node.process.env)[
                    "members"
                ]
            else:
                members += [entry["member"] for entry in node.credentials.values()]
        self.version += 1
        write_directory(self.directory_path, self.root, members, self.version)

    def start(self) -> None:
        for node in self.nodes.values():
            node.process.start()
        for node in self.nodes.values():
            node.process.wait_ready()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.process.stop()


def wait_until(condition: Callable[[], bool], *, timeout: float = 60.0, what: str = "") -> None:
    """Poll with a deadline; tests never sleep a fixed time to wait for something."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def second_process(cluster: Cluster, node: Node) -> NodeProcess:
    """Another ``accord serve`` on the same database: how a node scales out (DESIGN §2)."""
    extra = NodeProcess(
        name=f"{node.name}-2", env={}, log_path=cluster.root_dir / f"{node.name}-2.log"
    )
    extra.env = {**node.process.env, "ACCORD_PUBLIC_URL": node.url}
    return extra
