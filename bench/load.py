"""Load generators: wrk for one HTTP request repeated (with a Lua script that sets the body
and the bearer token and prints wrk's latency percentiles as JSON from its ``done`` hook), and
an asyncio client for flows of several requests (draft, then approve).

wrk is installed by ``scripts/system-packages.sh`` (Debian package ``wrk``).
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "BENCH_JSON "

#: wrk's ``done(summary, latency, requests)``: latency in microseconds; ``errors.status``
#: counts answers that are not 2xx or 3xx.
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\\n',
    "MARKER", summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
""".replace("MARKER", MARKER)


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def lua_script(
    *, method: str, paths: list[str], headers: dict[str, str], body: str | None = None
) -> str:
    """A wrk script sending ``method`` to each of ``paths`` in turn, with these headers."""
    lines = [f"wrk.method = {_lua_string(method)}"]
    for name, value in headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    if body is not None:
        lines.append(f"wrk.body = {_lua_string(body)}")
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    lines.append("local paths = {" + ", ".join(_lua_string(p) for p in paths) + "}")
    lines.append("local i = 0")
    lines.append(
        "request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend"
    )
    return "\n".join(lines) + "\n" + _DONE


@dataclass(frozen=True)
class Run:
    """One timed run: requests per second and latency percentiles in milliseconds."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def parse_wrk(output: str) -> Run:
    """The figures of one wrk run, from the line our ``done`` hook printed."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            break
    else:
        raise ValueError(f"no {MARKER.strip()} line in wrk's output: {output[-400:]!r}")
    errors = sum(
        data[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    seconds = data["duration_us"] / 1e6
    if data["requests"] == 0:
        errors += 1  # not one answer in the whole run: the run is a failure, not a zero
    return Run(
        rps=(data["requests"] - data["status_errors"]) / seconds if seconds else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        errors=errors,
    )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: run scripts/system-packages.sh (apt: wrk)")
    return found


def run_wrk(
    url: str, script: str, *, seconds: float, connections: int = 32, threads: int = 2
) -> Run:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = Path(handle.name)
    try:
        result = subprocess.run(  # noqa: S603 - wrk, found on PATH, with our arguments
            [
                wrk_binary(),
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(path),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        path.unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr[-400:]}")
    return parse_wrk(result.stdout)


def settle(url: str, *, timeout: float = 60.0) -> None:
    """Wait until ``url``'s ``/readyz`` (which takes a pooled database connection) answers
    twice in a row: wrk stops counting at the end of a run, but the server still works off
    what it had queued (on SQLite, writers waiting for the lock), and that tail must not land
    in the next scenario's run."""
    import httpx

    deadline = time.monotonic() + timeout
    answered = 0
    while answered < 2 and time.monotonic() < deadline:
        try:
            ok = httpx.get(f"{url}/readyz", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            ok = False
        answered = answered + 1 if ok else 0
        if not ok:
            time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank, as wrk reports them."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    """Median of several runs, with their min and max."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        return cls(statistics.median(values), min(values), max(values))


async def closed_loop(
    flow: Callable[[], Awaitable[Any]], *, seconds: float, concurrency: int = 32
) -> tuple[int, list[Any]]:
    """``concurrency`` tasks each running ``flow`` back to back for ``seconds``; returns how
    many flows failed and what the others returned."""
    deadline = time.monotonic() + seconds
    results: list[Any] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while time.monotonic() < deadline:
            try:
                results.append(await flow())
            except Exception:
                failures += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures, results
