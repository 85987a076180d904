"""The API scenarios on one database: the baseline, ``POST /v1/referrals``, ``GET
/v1/referrals/{id}`` with three categories opened, and listing incoming referrals (first page
and a deep page) at 10⁴ (and, in ``bench-long``, 10⁶) rows; RSS of each worker under load.

One node hosts both agencies (UNHCR sends, IOM receives: the outbox delivers to the node
itself over HTTP). Node and baseline run side by side on the same database; their runs are
interleaved (baseline, then each scenario, round after round) so that load from elsewhere
on the machine spreads over all figures instead of skewing one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import baseline_app
from bench.cluster import new_database
from bench.config import BenchSettings, say
from bench.load import Run, Summary, lua_script, run_wrk, settle
from bench.nodes import BaselineServer, Federation, rss_mb
from bench.report import Results, Scenario
from bench.scenarios import listing
from bench.setup import Exchange, exchange
from kit.db.engine import is_sqlite, make_sync_engine
from tests.support.referrals import CATEGORIES

SENT_FOR_READING = 20
PAGE = 50


@dataclass
class Load:
    """One HTTP request wrk repeats; ``script()`` is called before each run (fresh token)."""

    name: str
    url: str
    script: Callable[[], str]
    runs: list[Run] = field(default_factory=list)


class RssSampler:
    """Samples the RSS of a node's worker processes every ``every`` seconds in a thread."""

    def __init__(self, pids: Callable[[], list[int]], every: float = 0.5) -> None:
        self.pids, self.every = pids, every
        self.samples: list[tuple[float, dict[int, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = time.monotonic()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            sample = {}
            for pid in self.pids():
                try:
                    sample[pid] = rss_mb(pid)
                except OSError:
                    continue
            self.samples.append((time.monotonic() - self._started, sample))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self) -> float:
        return max((mb for _, s in self.samples for mb in s.values()), default=0.0)


def row_bytes(database_url: str) -> int:
    """How large a drafted referral's row is (PostgreSQL measures it; SQLite: its payloads)."""
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            if is_sqlite(database_url):
                size = connection.scalar(
                    text(
                        "SELECT avg(length(CAST(categories AS BLOB)) + length(history) "
                        "+ coalesce(length(note_sealed), 0) + 300) FROM referrals "
                        "WHERE direction = 'outgoing'"
                    )
                )
            else:
                size = connection.scalar(
                    text(
                        "SELECT avg(pg_column_size(r.*)) FROM referrals r "
                        "WHERE direction = 'outgoing'"
                    )
                )
    finally:
        engine.dispose()
    return int(size or 1024)


def measure(loads: list[Load], settings: BenchSettings, *, rounds: int | None = None) -> None:
    for load in loads:
        run_wrk(load.url, load.script(), seconds=settings.warmup, connections=settings.concurrency)
        settle(load.url)
    for n in range(rounds or settings.runs):
        say(f"  round {n + 1}: {', '.join(load.name for load in loads)}")
        for load in loads:
            load.runs.append(
                run_wrk(
                    load.url,
                    load.script(),
                    seconds=settings.seconds,
                    connections=settings.concurrency,
                )
            )
            settle(load.url)


def summarise(load: Load, backend: str, baseline: Load | None, note: str = "") -> Scenario:
    rps = Summary.of([r.rps for r in load.runs])
    p99 = Summary.of([r.p99_ms for r in load.runs])
    floor_rps = Summary.of([r.rps for r in baseline.runs]).median if baseline else None
    floor_p99 = Summary.of([r.p99_ms for r in baseline.runs]).median if baseline else None
    silent = sum(1 for r in load.runs if r.requests == 0)
    if silent:
        # A zero here is not a slow server but one that answered nothing in the whole run.
        note = f"{note}; {silent} of {len(load.runs)} runs got not one answer".lstrip("; ")
    return Scenario(
        name=load.name,
        backend=backend,
        rps=rps,
        p50_ms=Summary.of([r.p50_ms for r in load.runs]),
        p99_ms=p99,
        ratio=rps.median / floor_rps if floor_rps else None,
        p99_ratio=p99.median / floor_p99 if floor_p99 else None,
        runs=len(load.runs),
        errors=sum(r.errors for r in load.runs),
        note=note,
    )


@contextmanager
def api_node(
    root: Path, backend: str, admin_url: str | None, settings: BenchSettings, name: str = "api"
) -> Iterator[tuple[Federation, str]]:
    """A node named ``name`` hosting UNHCR and IOM, on a database of its own, in a directory
    of its own (``root/<name>-<backend>``); stopped on the way out."""
    if backend == "sqlite":
        database_url = f"sqlite:///{root / f'{name}.db'}"
    else:
        assert admin_url is not None
        database_url = new_database(admin_url, f"bench_{name.replace('-', '_')}")
    federation = Federation(root / f"{name}-{backend}", workers=settings.workers)
    federation.root_dir.mkdir(parents=True, exist_ok=True)
    federation.add_served(name, ["unhcr", "iom"], database_url)
    federation.publish()
    with federation.running():
        yield federation, database_url


def run(
    root: Path, backend: str, admin_url: str | None, settings: BenchSettings, results: Results
) -> None:
    with api_node(root, backend, admin_url, settings) as (federation, database_url):
        node = federation.nodes["api"]
        setup = exchange(node, node)
        readable = setup.send(SENT_FOR_READING)
        if setup.opened(readable[0]) != sorted(CATEGORIES):
            raise RuntimeError(f"IOM's reader sees {setup.opened(readable[0])}, not {CATEGORIES}")
        size = row_bytes(database_url)
        loaded = listing.grow(database_url, settings.listing)
        say(f"  set up; {settings.listing:,} incoming referrals loaded in {loaded:.0f} s")
        baseline_app.create_table(database_url)
        baseline = BaselineServer(
            name=f"baseline-{backend}",
            env={"BENCH_DATABASE_URL": database_url, "BENCH_ROW_BYTES": str(size)},
            log_path=federation.root_dir / "baseline.log",
            workers=settings.workers,
        )
        baseline.start()
        try:
            baseline.wait_ready()
            loads = _loads(setup, baseline.url, database_url, readable)
            process = node.process
            with RssSampler(process.worker_pids) as sampler:  # type: ignore[attr-defined]
                measure(loads, settings)
            _record(results, backend, loads, settings.listing, size, loaded)
            results.memory[f"{backend}_peak_rss_mb_per_worker"] = round(sampler.peak(), 1)
        finally:
            baseline.stop()
        if settings.long and backend == "postgresql":
            _long(results, setup, database_url, settings, process, root=root, admin_url=admin_url)


def _loads(
    setup: Exchange, baseline_url: str, database_url: str, readable: list[str]
) -> list[Load]:
    body = json.dumps(setup.body())
    node = setup.sender.url
    deep = listing.deep_cursor(database_url)
    return [
        Load(
            "baseline",
            baseline_url,
            lambda: lua_script(method="POST", paths=["/v1/referrals"], headers={}, body=body),
        ),
        Load(
            "POST /v1/referrals",
            node,
            lambda: lua_script(
                method="POST", paths=["/v1/referrals"], headers=setup.drafter.headers(), body=body
            ),
        ),
        Load(
            "GET /v1/referrals/{id}",
            node,
            lambda: lua_script(
                method="GET",
                paths=[f"/v1/referrals/{rid}" for rid in readable],
                headers=setup.reader.headers(),
            ),
        ),
        *_listing_loads(setup, node, deep, suffix=""),
    ]


def _listing_loads(setup: Exchange, node: str, deep: str, *, suffix: str) -> list[Load]:
    first = f"/v1/referrals?direction=incoming&limit={PAGE}"
    return [
        Load(
            f"list incoming, first page{suffix}",
            node,
            lambda: lua_script(method="GET", paths=[first], headers=setup.reader.headers()),
        ),
        Load(
            f"list incoming, deep page{suffix}",
            node,
            lambda: lua_script(
                method="GET", paths=[f"{first}&cursor={deep}"], headers=setup.reader.headers()
            ),
        ),
    ]


def _record(
    results: Results, backend: str, loads: list[Load], rows: int, size: int, loaded: float
) -> None:
    baseline, *others = loads
    results.baselines[backend] = summarise(
        baseline,
        backend,
        None,
        note=f"validates a referral-shaped body, inserts one {size}-byte row, commits",
    )
    notes = {
        "POST /v1/referrals": "policy decision, note sealed at rest, audit event, one commit",
        "GET /v1/referrals/{id}": "at the recipient: identity, contact and specific needs "
        f"opened and audited, over {SENT_FOR_READING} referrals",
        "list incoming, first page": f"{PAGE} of {rows:,} incoming (bulk-loaded in {loaded:.0f} s)",
        "list incoming, deep page": f"{PAGE} of {rows:,}, cursor 90 % of the way down",
    }
    for load in others:
        results.scenarios.append(
            summarise(load, backend, baseline, note=notes.get(load.name.split(" at ")[0], ""))
        )


def _long(
    results: Results,
    setup: Exchange,
    database_url: str,
    settings: BenchSettings,
    process: Any,
    *,
    root: Path,
    admin_url: str | None,
) -> None:
    """``bench-long``: the listing at 10⁴ and at 10⁶ rows, then POST load for 5 minutes
    watching RSS.

    The 10⁶ rows go into a second node on a database of its own, so that both sizes are
    measured in the same rounds, turn about (first page at 10⁴, at 10⁶, deep page at 10⁴, at
    10⁶): on a shared machine, load from elsewhere then weighs on both alike instead of on
    whichever size was measured while it lasted. Each size's plans are recorded too.
    """
    with api_node(root, "postgresql", admin_url, settings, name="api-long") as (
        federation,
        large_url,
    ):
        node = federation.nodes["api-long"]
        large = exchange(node, node)
        large.send(1)  # the real incoming referral the bulk rows are copies of
        loaded = listing.grow(large_url, settings.long_listing)
        say(f"  {settings.long_listing:,} incoming referrals loaded in {loaded:.0f} s")
        pages: list[list[Load]] = []
        for rows, sizing, url in (
            (settings.listing, setup, database_url),
            (settings.long_listing, large, large_url),
        ):
            deep = listing.deep_cursor(url)
            results.plans[f"{rows:,}"] = listing.plans(url, deep, limit=PAGE)
            pages.append(_listing_loads(sizing, sizing.sender.url, deep, suffix=f" at {rows:,}"))
        loads = [load for pair in zip(*pages, strict=True) for load in pair]
        measure(loads, settings)
        for load in loads:
            scenario = summarise(load, "postgresql", None)
            rows = int(load.name.rsplit(" at ", 1)[1].replace(",", ""))
            scenario.note = f"{PAGE} of {rows:,} incoming, in turn with the other size" + (
                f" (bulk-loaded in {loaded:.0f} s)" if rows == settings.long_listing else ""
            )
            results.scenarios.append(scenario)

    body = json.dumps(setup.body())
    script = lua_script(
        method="POST", paths=["/v1/referrals"], headers=setup.drafter.headers(), body=body
    )
    say(f"  memory run: POST /v1/referrals for {settings.memory_seconds:.0f} s")
    with RssSampler(process.worker_pids, every=5.0) as sampler:
        run_wrk(
            setup.sender.url,
            script,
            seconds=settings.memory_seconds,
            connections=settings.concurrency,
        )
    after_warmup = [s for at, s in sampler.samples if at >= settings.memory_warmup and s]
    growth: dict[str, float] = {}
    if after_warmup:
        first, last = after_warmup[0], after_warmup[-1]
        for pid in first:
            if pid in last and first[pid]:
                growth[str(pid)] = round(100 * (last[pid] - first[pid]) / first[pid], 1)
    results.memory["memory_run"] = {
        "seconds": settings.memory_seconds,
        "load": "POST /v1/referrals, wrk, 32 connections",
        "peak_rss_mb_per_worker": round(sampler.peak(), 1),
        "growth_pct_after_warmup": growth,
        "samples_mb": [
            {"at_s": round(at, 1), "rss_mb": sorted(round(v, 1) for v in s.values())}
            for at, s in sampler.samples
        ],
    }
