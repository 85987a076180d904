"""Stopping a benchmark server (bench/nodes.py) leaves none of its processes behind: a
supervisor and a worker in their own process group, as ``uvicorn --workers`` runs them."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from bench.nodes import ServedNode

#: A supervisor that starts a worker ignoring SIGTERM, prints its pid and, if ``stubborn``,
#: ignores SIGTERM too (a shutdown that hangs); otherwise it exits at once, as a supervisor
#: killed mid-shutdown would, without waiting for its worker.
SUPERVISOR = """
(trap '' TERM; exec sleep 60) &
if [ "$1" = stubborn ]; then trap '' TERM; fi
echo $!
wait
"""


def _server(tmp_path: Path, mode: str) -> tuple[ServedNode, int]:
    node = ServedNode(name="s", env={}, log_path=tmp_path / "s.log")
    node.process = subprocess.Popen(
        ["/bin/sh", "-c", SUPERVISOR, "supervisor", mode],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert node.process.stdout is not None
    worker = int(node.process.stdout.readline())
    return node, worker


def _gone(pid: int) -> bool:
    """Exited (a zombie left for init to reap counts), within 5 s of a SIGKILL."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


def test_a_worker_its_supervisor_left_behind_is_stopped_too(tmp_path: Path) -> None:
    node, worker = _server(tmp_path, "quits")
    assert worker in node.worker_pids()
    node.stop(timeout=5)
    assert node.process is not None
    assert node.process.returncode is not None
    assert _gone(worker)


def test_a_supervisor_that_does_not_stop_in_time_is_killed_with_its_workers(
    tmp_path: Path,
) -> None:
    node, worker = _server(tmp_path, "stubborn")
    node.stop(timeout=0.3)
    assert node.process is not None
    assert node.process.returncode is not None
    assert _gone(worker)
