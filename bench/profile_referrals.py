"""Where a referral request spends its time, in one process, against an app on SQLite or
PostgreSQL (issue 19): requests per second, SQL statements per request, and a cProfile of each.

    PYTHONPATH=. .venv/bin/python bench/profile_referrals.py [--backend sqlite|postgresql]
        [--requests 300] [--concurrency 16] [--profile] [--top 25] [--only post|get|approve]

Measures, through httpx's ASGI transport (no sockets, no uvicorn: the app's own cost):

- ``POST /v1/referrals``: a caseworker drafts a referral (policy decision, sealing, audit);
- ``GET /v1/referrals/{id}``: the drafter reads one back;
- ``approve→receipt``: a focal point approves, the delivery worker hands the message to the
  other agency of this node and records the signed receipt (``DeliveryWorker.deliver_round``),
  per referral and in rounds of 100 (the batch path).

``ratio`` is the app's rate over a bare FastAPI + SQLAlchemy Core insert on the same database
(``bare``), the floor any endpoint sits on. ``sql/req`` counts statements sent to the database
(SQLAlchemy's ``before_cursor_execute``). With ``--profile`` each phase also runs under
cProfile and prints the ``--top`` functions by cumulative time (``PROFILE_SORT=tottime`` for
time spent in each function itself), so one can see where the time
goes. PostgreSQL runs on a throwaway cluster (``tests/support/postgres.py``) unless
``ACCORD_TEST_DATABASE_URL`` names a server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, String, Table, event

from kit.db.engine import make_async_engine
from kit.db.migrate import upgrade_to_head
from services.federation.outbox import DeliveryWorker
from tests.support.app import serving
from tests.support.federation import member_settings
from tests.support.postgres import create_database, drop_database, throwaway_cluster
from tests.support.referrals import ROOT, Exchange, exchange


@contextlib.contextmanager
def database(backend: str, scratch: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{scratch / 'bench.db'}"
        upgrade_to_head(url)
        yield url
        return
    supplied = os.environ.get("ACCORD_TEST_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        admin = supplied or stack.enter_context(throwaway_cluster())
        name = f"accord_bench_{uuid.uuid4().hex[:8]}"
        url = create_database(admin, name)
        upgrade_to_head(url)
        try:
            yield url
        finally:
            drop_database(admin, name)


class StatementCounter:
    def __init__(self, app: FastAPI) -> None:
        self.count = 0
        self.recent: list[str] = []
        engines = {app.state.db._engine.sync_engine}
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.count += 1
        self.recent.append(" ".join(statement.split())[:160])


async def timed(
    label: str,
    operation: Callable[[int], Awaitable[None]],
    count: int,
    counter: StatementCounter,
    profile: bool,
    top: int,
    results: dict[str, tuple[float, float, float, float]],
    concurrency: int = 1,
) -> None:
    """``count`` calls of ``operation``, ``concurrency`` at a time: rate, statements per call,
    the 99th percentile of one call's latency (ms), and the CPU time of this process (every
    thread) per call (ms): on a machine shared with others the rate moves with their load, the
    CPU time much less."""
    profiler = cProfile.Profile() if profile else None
    before = counter.count
    latencies: list[float] = []
    indexes = iter(range(count))

    async def worker() -> None:
        for index in indexes:
            began = time.perf_counter()
            await operation(index)
            latencies.append(time.perf_counter() - began)

    started = time.perf_counter()
    cpu = time.process_time()
    if profiler:
        profiler.enable()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    cpu_ms = (time.process_time() - cpu) * 1000 / count
    results[label] = (count / elapsed, (counter.count - before) / count, p99, cpu_ms)
    if profiler:
        out = io.StringIO()
        sort = os.environ.get("PROFILE_SORT", "cumulative")
        pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(top)
        print(f"--- {label} ---\n{out.getvalue()}")


@contextlib.asynccontextmanager
async def node(url: str, scratch: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    from services.app import create_app

    app = create_app(member_settings(url, scratch, ROOT))
    async with serving(app) as client:
        yield app, client


async def bare_rate(url: str, count: int) -> float:
    """A bare FastAPI + SQLAlchemy Core insert through the same transport: the floor."""
    engine = make_async_engine(url)
    metadata = MetaData()
    table = Table(
        f"bench_bare_{uuid.uuid4().hex[:6]}",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("note", String(200)),
    )
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    bare = FastAPI()

    @bare.post("/rows", status_code=201)
    async def add(row: dict[str, str]) -> dict[str, int]:
        async with engine.begin() as connection:
            result = await connection.execute(table.insert().values(note=row["note"]))
            return {"id": int(result.inserted_primary_key[0])}

    transport = httpx.ASGITransport(app=bare)
    async with httpx.AsyncClient(transport=transport, base_url="http://bare") as client:
        started = time.perf_counter()
        for index in range(count):
            response = await client.post("/rows", json={"note": f"row {index}"})
            assert response.status_code == 201
        rate = count / (time.perf_counter() - started)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
    await engine.dispose()
    return rate


async def run(
    backend: str, count: int, profile: bool, top: int, only: str | None, concurrency: int
) -> None:
    with tempfile.TemporaryDirectory() as scratch_dir, database(backend, Path(scratch_dir)) as url:
        scratch = Path(scratch_dir)
        results: dict[str, tuple[float, float, float, float]] = {}
        async with node(url, scratch) as (app, client):
            ex: Exchange = await exchange(app, client, scratch)
            counter = StatementCounter(app)
            drafted: list[str] = []

            async def draft(_: int) -> None:
                drafted.append((await ex.draft())["id"])

            async def read(index: int) -> None:
                response = await client.get(
                    f"/v1/referrals/{drafted[index % len(drafted)]}",
                    headers=ex.people["unhcr_caseworker"],
                )
                assert response.status_code == 200, response.text

            approver = ex.people["unhcr_focal_point"]

            async def approve_and_deliver(index: int) -> None:
                response = await client.post(
                    f"/v1/referrals/{drafted[index]}/approve", headers=approver
                )
                assert response.status_code == 200, response.text
                await DeliveryWorker(app.state.federation).deliver_round()

            async def approve_hundred(round_: int) -> None:
                start = count // 2 + round_ * 100
                for referral in drafted[start : start + 100]:
                    response = await client.post(
                        f"/v1/referrals/{referral}/approve", headers=approver
                    )
                    assert response.status_code == 200, response.text
                while await DeliveryWorker(app.state.federation).deliver_round():
                    pass

            # Warm up (first requests compile, load keys and fill caches).
            for _ in range(5):
                await ex.draft()
            if os.environ.get("PROFILE_STATEMENTS"):
                # The statements of one warm POST and one warm GET, to count round trips.
                counter.recent.clear()
                await draft(0)
                print("--- statements of one POST ---", *counter.recent, sep="\n  ")
                counter.recent.clear()
                await read(0)
                print("--- statements of one GET ---", *counter.recent, sep="\n  ")
                counter.recent.clear()
                await approve_and_deliver(0)
                print(
                    "--- statements of one approve and its delivery ---",
                    *counter.recent,
                    sep="\n  ",
                )
                counter.recent.clear()
                drafted.clear()
            if only in (None, "post"):
                await timed("POST /v1/referrals", draft, count, counter, profile, top, results)
            else:
                for index in range(count):
                    await draft(index)
            if only in (None, "get"):
                await timed("GET /v1/referrals/{id}", read, count, counter, profile, top, results)
            if only is None and concurrency > 1:
                await timed(
                    f"POST /v1/referrals ({concurrency} at once)",
                    draft,
                    count,
                    counter,
                    profile,
                    top,
                    results,
                    concurrency,
                )
                await timed(
                    f"GET /v1/referrals/{{id}} ({concurrency} at once)",
                    read,
                    count,
                    counter,
                    profile,
                    top,
                    results,
                    concurrency,
                )
            if only in (None, "approve"):
                await timed(
                    "approve→receipt (1 at a time)",
                    approve_and_deliver,
                    count // 2,
                    counter,
                    profile,
                    top,
                    results,
                )
            rounds = (count - count // 2) // 100
            if rounds and only in (None, "approve"):
                await timed(
                    "approve→receipt (100 per round)",
                    approve_hundred,
                    rounds,
                    counter,
                    profile,
                    top,
                    results,
                )
                label = "approve→receipt (100 per round)"
                rate, sql, _, cpu_ms = results[label]
                results[label] = (rate * 100, sql / 100, float("nan"), cpu_ms / 100)
        bare = await bare_rate(url, min(count, 500))
    print(f"backend {backend}, {count} requests; bare FastAPI+SQLAlchemy insert: {bare:,.0f}/s")
    print(f"{'operation':<40} {'per s':>8} {'ratio':>6} {'sql/req':>8} {'p99 ms':>8} {'cpu ms':>7}")
    for label, (rate, sql, p99, cpu_ms) in results.items():
        print(
            f"{label:<40} {rate:>8,.0f} {rate / bare:>6.2f} {sql:>8.1f} {p99:>8.1f} {cpu_ms:>7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--only",
        choices=["post", "get", "approve"],
        help="time only this phase (and what it needs), e.g. under py-spy",
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="also time POST and GET this many at once"
    )
    args = parser.parse_args()
    asyncio.run(
        run(args.backend, args.requests, args.profile, args.top, args.only, args.concurrency)
    )


if __name__ == "__main__":
    main()
