"""End to end between two nodes on one PostgreSQL server: UNHCR's node drafts and approves,
its outbox delivers to IOM's node, IOM's signed receipt is stored back at UNHCR.

An asyncio client runs 32 flows at once, each drafting a referral (a caseworker) then
approving it (a focal point), back to back for the run's length: a closed loop, so the rate
is the most the two nodes sustain. Latency is approve→receipt: from the moment the approve
request is sent to the ``delivered_at`` UNHCR's outbox records when IOM's receipt is in
(one clock: same machine), read from UNHCR's database after the run, so that measuring adds
no polling load. The rate is referrals whose receipt is in, over the time from the first
approve to the last receipt.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from sqlalchemy import bindparam, text

from bench.cluster import new_database
from bench.config import BenchSettings, say
from bench.load import Summary, closed_loop, percentile
from bench.nodes import Federation
from bench.report import Results, Scenario
from bench.setup import Exchange, exchange
from kit.db.engine import make_sync_engine

NAME = "exchange approve→receipt"


async def _drive(setup: Exchange, seconds: float, concurrency: int) -> tuple[int, dict[str, float]]:
    drafter, approver = setup.drafter.headers(), setup.approver.headers()
    body = setup.body()
    approved: dict[str, float] = {}
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=setup.sender.url, timeout=30, limits=limits) as http:

        async def flow() -> None:
            draft = await http.post("/v1/referrals", json=body, headers=drafter)
            draft.raise_for_status()
            referral_id = str(draft.json()["id"])
            at = time.time()
            (
                await http.post(f"/v1/referrals/{referral_id}/approve", headers=approver)
            ).raise_for_status()
            approved[referral_id] = at

        failures, _ = await closed_loop(flow, seconds=seconds, concurrency=concurrency)
    return failures, approved


def _receipts(database_url: str, ids: list[str], timeout: float) -> dict[str, float]:
    """``delivered_at`` of each referral's message, waiting until all are in (or ``timeout``)."""
    engine = make_sync_engine(database_url)
    query = text(
        "SELECT referral_id, extract(epoch FROM delivered_at) FROM outbox_messages "
        "WHERE type = 'referral.sent' AND status = 'delivered' AND referral_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    found: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as connection:
                for start in range(0, len(ids), 5000):
                    rows = connection.execute(query, {"ids": ids[start : start + 5000]})
                    found.update({r[0]: float(r[1]) for r in rows})
            if len(found) >= len(ids) or time.monotonic() > deadline:
                return found
            time.sleep(0.5)
    finally:
        engine.dispose()


def run(root: Path, admin_url: str, settings: BenchSettings, results: Results) -> None:
    federation = Federation(root / "exchange", workers=settings.workers)
    federation.root_dir.mkdir(parents=True, exist_ok=True)
    sender = federation.add_served("unhcr", ["unhcr"], new_database(admin_url, "bench_unhcr"))
    recipient = federation.add_served("iom", ["iom"], new_database(admin_url, "bench_iom"))
    federation.publish()
    with federation.running():
        setup = exchange(sender, recipient)
        setup.send(1)
        rates, p50s, p99s = [], [], []
        failures = lost = 0
        asyncio.run(_drive(setup, settings.warmup, settings.concurrency))
        for _ in range(settings.runs):
            failed, approved = asyncio.run(_drive(setup, settings.seconds, settings.concurrency))
            receipts = _receipts(sender.database_url, list(approved), timeout=120)
            say(f"  run: {len(approved)} approved, {len(receipts)} receipts, {failed} failed")
            failures += failed
            lost += len(approved) - len(receipts)
            latencies = [1000 * (receipts[r] - approved[r]) for r in receipts]
            window = max(receipts.values(), default=0.0) - min(approved.values(), default=0.0)
            if not receipts or window <= 0:
                continue
            rates.append(len(receipts) / window)
            p50s.append(percentile(latencies, 50))
            p99s.append(percentile(latencies, 99))
    floor = results.baselines.get("postgresql")
    rate = Summary.of(rates) if rates else None
    p99 = Summary.of(p99s) if p99s else None
    results.scenarios.append(
        Scenario(
            name=NAME,
            backend="postgresql",
            rps=rate,
            p50_ms=Summary.of(p50s) if p50s else None,
            p99_ms=p99,
            ratio=rate.median / floor.rps.median
            if rate and floor and floor.rps and floor.rps.median
            else None,
            p99_ratio=None,
            runs=len(rates),
            errors=failures + lost,
            note="two nodes, referrals/s whose signed receipt is stored at the sender "
            f"(draft + approve per referral, {settings.concurrency} flows); latency from "
            f"approve to receipt; errors: failed flows and receipts missing after 120 s",
        )
    )
