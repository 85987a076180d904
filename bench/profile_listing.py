"""A page of ``GET /v1/referrals`` (``services.referrals.repository.page_for``) at 10^4 and at
10^6 referrals of one agency, on SQLite (issue 19: within 2x).

    PYTHONPATH=. .venv/bin/python bench/profile_listing.py [--small 10000] [--large 1000000]
        [--pages 200] [--without-indexes]

Fills a migrated SQLite database with ``--small`` rows, times ``--pages`` pages of 50 (the
first page, a page deep in the list through its cursor, and the first page of one status),
then grows it to ``--large`` rows and times them again. ``ratio`` is large over small: a page
read in index order costs the same at any size. Rows are inserted with SQLAlchemy Core in
batches (no ORM, no API): the listing is measured, not the filling.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from kit.db.base import new_id, utcnow
from kit.db.engine import make_async_engine
from kit.db.migrate import upgrade_to_head
from services.referrals import repository
from services.referrals.models import Referral

STATUSES = ["pending_approval", "approved", "sent", "accepted", "declined", "completed"]
#: Twenty agencies share the node; the one listed holds 1 row in 20, so a page read in id order
#: without an index of the agency skips ~19 rows for every row it keeps.
AGENCIES = ["unhcr"] + [f"ngo-{n}" for n in range(19)]


def _rows(count: int) -> list[dict[str, object]]:
    now = utcnow()
    rows = []
    for _ in range(count):
        rows.append(
            {
                "id": new_id(),
                "referral_id": str(new_id()),
                "agency": random.choice(AGENCIES),
                "direction": random.choice(["outgoing", "incoming"]),
                "counterpart": "ilo",
                "purpose": "avrr-counselling",
                "agreement_id": "a",
                "agreement_version": 1,
                "categories": ["identity"],
                "status": random.choice(STATUSES),
                "drafted_by": "bench",
                "history": [],
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


async def _fill(engine, count: int) -> None:  # type: ignore[no-untyped-def]
    batch = 20_000
    for start in range(0, count, batch):
        async with engine.begin() as connection:
            await connection.execute(insert(Referral), _rows(min(batch, count - start)))


async def _time_pages(engine, pages: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from sqlalchemy.ext.asyncio import async_sessionmaker

    sessions = async_sessionmaker(engine, expire_on_commit=False)
    timings: dict[str, float] = {}
    async with sessions() as session:
        first = await repository.page_for(
            session, agency="unhcr", direction=None, status=None, stage=None, cursor=None, limit=50
        )
        deep = first.next_cursor
        for _ in range(20):  # twenty pages in
            page = await repository.page_for(
                session,
                agency="unhcr",
                direction=None,
                status=None,
                stage=None,
                cursor=deep,
                limit=50,
            )
            deep = page.next_cursor
        cases = {
            "first page": {"status": None, "cursor": None},
            "page 21 (cursor)": {"status": None, "cursor": deep},
            "first page, one status": {"status": "sent", "cursor": None},
            "outgoing, first page": {"status": None, "cursor": None, "direction": "outgoing"},
        }
        for label, args in cases.items():
            started = time.perf_counter()
            for _ in range(pages):
                await repository.page_for(
                    session,
                    agency="unhcr",
                    direction=args.get("direction"),  # type: ignore[arg-type]
                    status=args["status"],
                    stage=None,
                    cursor=args["cursor"],
                    limit=50,
                )
            timings[label] = (time.perf_counter() - started) / pages * 1000
    return timings


async def run(small: int, large: int, pages: int, without: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'listing.db'}"
        upgrade_to_head(url)
        engine = make_async_engine(url)
        if without:
            async with engine.begin() as connection:
                for name in ("ix_referrals_agency_id", "ix_referrals_agency_status_id"):
                    await connection.exec_driver_sql(f"DROP INDEX {name}")
        await _fill(engine, small)
        at_small = await _time_pages(engine, pages)
        await _fill(engine, large - small)
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
        at_large = await _time_pages(engine, pages)
        await engine.dispose()
    print(f"{'page of 50':<26} {small:>10,} {large:>10,}  ratio   (ms per page)")
    for label, ms in at_small.items():
        print(f"{label:<26} {ms:>10.2f} {at_large[label]:>10.2f} {at_large[label] / ms:>6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument(
        "--without-indexes",
        action="store_true",
        help="drop migration 0021's listing indexes first: the figures before it",
    )
    args = parser.parse_args()
    asyncio.run(run(args.small, args.large, args.pages, args.without_indexes))


if __name__ == "__main__":
    main()
