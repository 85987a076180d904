"""``bench/results/latest.json`` and ``latest.md``: every figure with the machine, the versions
and the settings it was measured with, and each target of issue 19 met or not."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sqlite3
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.load import Summary

RESULTS = Path(__file__).parent / "results"


@dataclass
class Scenario:
    """One measured scenario: the median of its runs, with their min and max.

    ``rps`` is operations per second (requests, referrals exchanged, in-process calls);
    ``ratio`` is ``rps`` over the baseline's on the same database (or, in process, over the
    floor named in ``note``); ``p99_ratio`` compares p99 latencies the same way.
    """

    name: str
    backend: str
    rps: Summary | None
    p50_ms: Summary | None = None
    p99_ms: Summary | None = None
    ratio: float | None = None
    p99_ratio: float | None = None
    runs: int = 0
    errors: int = 0
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        def median(value: Summary | None) -> float | None:
            return None if value is None else round(value.median, 3)

        def spread(value: Summary | None) -> dict[str, float] | None:
            return (
                None if value is None else {"min": round(value.low, 3), "max": round(value.high, 3)}
            )

        return {
            "name": self.name,
            "backend": self.backend,
            "rps": median(self.rps),
            "p50_ms": median(self.p50_ms),
            "p99_ms": median(self.p99_ms),
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "p99_ratio": None if self.p99_ratio is None else round(self.p99_ratio, 3),
            "spread": {
                "rps": spread(self.rps),
                "p50_ms": spread(self.p50_ms),
                "p99_ms": spread(self.p99_ms),
            },
            "runs": self.runs,
            "errors": self.errors,
            "note": self.note,
        }


@dataclass(frozen=True)
class Target:
    name: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run (e.g. a bench-long target in make bench)


@dataclass
class Results:
    settings: dict[str, Any]
    baselines: dict[str, Scenario] = field(default_factory=dict)
    scenarios: list[Scenario] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    #: ``bench-long``: the listing's statements and their PostgreSQL plans, by table size.
    plans: dict[str, Any] = field(default_factory=dict)
    #: Scenario groups that raised: named in the report, so a partial run is never mistaken
    #: for a complete one.
    failures: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    duration_seconds: float = 0.0

    def scenario(self, name: str, backend: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.name == name and s.backend == backend), None)


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_mb = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mb = int(line.split()[1]) // 1024
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_mb": memory_mb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def software_versions(extra: dict[str, str] | None = None) -> dict[str, str]:
    found: dict[str, str] = {"sqlite": sqlite3.sqlite_version}
    for package in (
        "accord",
        "fastapi",
        "starlette",
        "uvicorn",
        "pydantic",
        "sqlalchemy",
        "asyncpg",
        "aiosqlite",
        "httpx",
        "cryptography",
    ):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git on PATH, read-only
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    return {**found, **(extra or {})}


def as_json(results: Results) -> dict[str, Any]:
    postgres = results.baselines.get("postgresql") or next(iter(results.baselines.values()), None)

    def floor(baseline: Scenario | None) -> dict[str, float | None]:
        row = baseline.as_json() if baseline else {}
        return {key: row.get(key) for key in ("rps", "p50_ms", "p99_ms")}

    return {
        "date": results.started.isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": results.versions,
        "settings": results.settings,
        "duration_seconds": round(results.duration_seconds, 1),
        "baseline": floor(postgres),
        "baselines": {name: b.as_json() for name, b in results.baselines.items()},
        "scenarios": [s.as_json() for s in results.scenarios],
        "targets": [asdict(t) for t in results.targets],
        "memory": results.memory,
        "plans": results.plans,
        "failures": results.failures,
    }


def _figure(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _range(value: dict[str, float] | None) -> str:
    return "" if value is None else f" ({value['min']:,.1f}-{value['max']:,.1f})"


def as_markdown(document: dict[str, Any]) -> str:
    m, s = document["machine"], document["settings"]
    lines = [
        "# Benchmark results",
        "",
        f"{document['date']}, {m['cpu']} ({m['cores']} cores, {m['memory_mb']:,} MB), "
        f"{m['os']}, Python {m['python']}; commit {document['versions'].get('commit', '?')}; "
        f"`make bench{'-long' if s.get('long') else ''}` took "
        f"{document['duration_seconds']:.0f} s.",
        "",
        f"Each figure is the median of {s['runs']} runs of {s['seconds']} s after "
        f"{s['warmup']} s of warm-up (min-max in brackets), {s['concurrency']} connections, "
        f"{s['workers']} worker processes per server. Ratios are to the bare FastAPI baseline "
        "on the same database (`bench/baseline_app.py`); in-process figures to the floor named.",
        "",
        "## Targets",
        "",
        "| target | wanted | measured | met |",
        "|---|---|---|---|",
    ]
    for t in document["targets"]:
        met = {True: "yes", False: "**no**", None: "not run"}[t["met"]]
        lines.append(f"| {t['name']} | {t['target']} | {t['measured']} | {met} |")
    lines += [
        "",
        "## Scenarios",
        "",
        "| scenario | database | ops/s | p50 ms | p99 ms | x baseline ops/s | x baseline p99 "
        "| errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [*document["baselines"].values(), *document["scenarios"]]
    for row in rows:
        spread = row["spread"]
        p99 = f"{_figure(row['p99_ms'], 2)}{_range(spread['p99_ms'])}"
        lines.append(
            f"| {row['name']} | {row['backend']} | {_figure(row['rps'])}{_range(spread['rps'])} "
            f"| {_figure(row['p50_ms'], 2)} | {p99} "
            f"| {_figure(row['ratio'], 2)} | {_figure(row['p99_ratio'], 2)} | {row['errors']} |"
        )
    notes = [f"- **{r['name']}** ({r['backend']}): {r['note']}" for r in rows if r["note"]]
    if notes:
        lines += ["", "## Notes", "", *notes]
    if document["memory"]:
        lines += ["", "## Memory", "", "```json", json.dumps(document["memory"], indent=2), "```"]
    for rows, pages in document.get("plans", {}).items():
        for page, statements in pages.items():
            lines += ["", f"## Listing plan: {page} at {rows} incoming referrals", ""]
            for statement in statements:
                flag = " (**COUNT or OFFSET**)" if statement["count_or_offset"] else ""
                lines += [f"`{statement['sql']}`{flag}", "", "```", *statement["plan"], "```"]
    if document["failures"]:
        lines += ["", "## Failed scenario groups", "", *(f"- {f}" for f in document["failures"])]
    versions = ", ".join(f"{k} {v}" for k, v in document["versions"].items())
    lines += ["", "## Versions", "", versions, ""]
    return "\n".join(lines)


def write(results: Results, directory: Path = RESULTS) -> dict[str, Any]:
    document = as_json(results)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
    (directory / "latest.md").write_text(as_markdown(document))
    return document
