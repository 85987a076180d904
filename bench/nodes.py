"""Nodes as the benchmark runs them: ``accord init --json`` in a child process, then
``accord serve --workers 2`` on 127.0.0.1, in a federation whose directory the harness signs.

The federation plumbing (root key, signed directory, tokens) is the test suite's
``tests.support.cluster.Cluster``; only the two things a benchmark must do differently are
changed here: the node is initialised by the real CLI command, and it serves with several
uvicorn worker processes (``accord serve --workers``, which uvicorn forks behind one socket).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.demo.nodes import NodeProcess
from tests.support.app import TEST_MASTER_KEY
from tests.support.cluster import Cluster, Node, accord

#: Production defaults, except what a throwaway benchmark node needs: a test master key, a
#: quiet log, and the cheap Argon2 profile (``init`` hashes each first admin's password once;
#: nothing measured checks a password).
BENCH_NODE_ENV = {
    "ACCORD_ENV": "dev",
    "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
    "ACCORD_LOG_LEVEL": "WARNING",
    "ACCORD_PASSWORD_TIME_COST": "1",
    "ACCORD_PASSWORD_MEMORY_COST_KIB": "8",
    "ACCORD_PASSWORD_PARALLELISM": "1",
}


@dataclass
class ServedNode(NodeProcess):
    """``accord serve --workers N``: one uvicorn supervisor and N worker processes."""

    workers: int = 2

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ACCORD_PUBLIC_URL": self.url, **self.env}
        command = [sys.executable, "-m", "services.cli", "serve", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [*command, "--workers", str(self.workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 90.0) -> None:
        # Two workers each import the app on a shared 2-core machine: slower than one.
        super().wait_ready(timeout)

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the supervisor that run the app)."""
        if self.process is None:
            return []
        return worker_pids(self.process.pid)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the supervisor, which stops its workers; whatever of its process group
        is still there after ``timeout`` (the supervisor, or workers it left behind) is killed.
        ``NodeProcess.stop`` kills only the supervisor, which would orphan the workers: they
        would keep the port, the database connections and a share of the two cores."""
        if self.process is None:
            return
        group = self.process.pid  # start_new_session: the supervisor leads its own group
        workers = self.worker_pids()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                # Not reaped yet, so the group id is still ours alone.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
                self.process.wait()
        for pid in workers:
            if _group_of(pid) == group:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _group_of(pid: int) -> int | None:
    """The process group of ``pid``, or None if it is gone (``/proc/PID/stat``, field 5)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[2])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def worker_pids(supervisor: int) -> list[int]:
    """Children of ``supervisor`` that serve the app: uvicorn spawns them with
    ``multiprocessing``; its resource tracker (also a child) serves nothing and is left out."""
    pids = []
    for pid in _children(supervisor):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"resource_tracker" not in command:
            pids.append(pid)
    return pids


def rss_mb(pid: int) -> float:
    """Resident set size of one process, in MiB (``VmRSS`` of ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Federation(Cluster):
    """Benchmark nodes sharing a directory signed by a root key of this run."""

    def __init__(self, root_dir: Path, *, workers: int = 2, env: dict[str, str] | None = None):
        super().__init__(root_dir, lambda name: name)
        self.workers = workers
        self.extra_env = env or {}

    def env_for(self, node: Node) -> dict[str, str]:
        base = super().env_for(node)
        # The test suite's fast polling is for tests; a benchmark node runs with the defaults.
        for name in list(base):
            if name not in BENCH_NODE_ENV and name not in {
                "ACCORD_DATABASE_URL",
                "ACCORD_PUBLIC_URL",
                "ACCORD_DIRECTORY",
                "ACCORD_DIRECTORY_ROOT_KEY",
            }:
                del base[name]
        return {**base, **BENCH_NODE_ENV, **self.extra_env}

    @contextmanager
    def running(self) -> Iterator[Federation]:
        """Every node started, and every one stopped on the way out, whatever happens in
        between (a node that does not come up, a scenario that raises, SIGTERM)."""
        with ExitStack() as stack:
            for node in self.nodes.values():
                stack.callback(node.process.stop)
                node.process.start()
            for node in self.nodes.values():
                node.process.wait_ready()
            yield self

    def add_served(self, name: str, agencies: list[str], database_url: str) -> Node:
        process = ServedNode(
            name=name, env={}, log_path=self.root_dir / f"{name}.log", workers=self.workers
        )
        node = Node(name=name, agencies=agencies, database_url=database_url, process=process)
        process.env = self.env_for(node)
        self.nodes[name] = node
        return node

    def _init(self, node: Node) -> None:
        """``accord init --json``, the command an operator runs: migrations, agencies, keys."""
        arguments = ["init", "--json"]
        for agency in node.agencies:
            arguments += ["--agency", f"{agency}={agency.upper()}"]
        result = accord(*arguments, env=node.process.env)
        for entry in result["agencies"]:
            node.credentials[entry["agency"]] = entry


@dataclass
class BaselineServer(ServedNode):
    """``bench/baseline_app.py`` under uvicorn with as many workers as a node."""

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.baseline_app:app_from_environment",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--no-access-log",
            "--no-server-header",
            "--log-level",
            "warning",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
