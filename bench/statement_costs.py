"""What one statement costs this process in CPU, by how it is written (issue 19), on a throwaway
PostgreSQL cluster (or ``ACCORD_TEST_DATABASE_URL``'s server):

    PYTHONPATH=. .venv/bin/python bench/statement_costs.py [--calls 2000]

The same primary-key read of a case, and the same insert of an event, through: the ORM with
the statement built on each call (as the hot paths were written), the ORM with a statement
built once (bind parameters), Core with a statement built once, and asyncpg alone; an insert
by ``session.add`` + ``flush`` and by a Core ``INSERT``. CPU time of this process per call
(``time.process_time``), which moves much less than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import services.models  # noqa: F401 - every table mapped, for the foreign keys
from kit.db.base import new_id, utcnow
from kit.db.engine import make_async_engine
from kit.db.migrate import upgrade_to_head
from services.cases.models import Case
from services.events.models import Event
from tests.support.postgres import create_database, drop_database, throwaway_cluster


async def cpu_per_call(calls: int, work: Callable[[], Awaitable[object]]) -> float:
    """Microseconds of this process's CPU per call, after a few warm-up calls."""
    for _ in range(20):
        await work()
    started = time.process_time()
    for _ in range(calls):
        await work()
    return (time.process_time() - started) / calls * 1e6


async def measure(url: str, calls: int) -> None:
    engine = make_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    case_id = uuid.uuid4()
    by_id = select(Case).where(Case.id == bindparam("i"), Case.agency == bindparam("a"))
    table = Case.__table__
    core_by_id = select(table).where(table.c.id == bindparam("i"), table.c.agency == bindparam("a"))
    add_event = insert(Event.__table__)
    session: AsyncSession
    async with sessions() as session:
        await session.execute(
            text("INSERT INTO agencies (slug, name, created_at) VALUES ('unhcr', 'UNHCR', now())")
        )
        raw = (await (await session.connection()).get_raw_connection()).driver_connection

        def event() -> dict[str, object]:
            return {
                "id": new_id(),
                "agency": "unhcr",
                "type": "referral.drafted",
                "timestamp": utcnow(),
                "data": {"referral_id": "r"},
            }

        async def orm_built() -> object:
            statement = select(Case).where(Case.id == case_id, Case.agency == "unhcr")
            return (await session.scalars(statement)).first()

        async def orm_once() -> object:
            return (await session.scalars(by_id, {"i": case_id, "a": "unhcr"})).first()

        async def core_once() -> object:
            return (await session.execute(core_by_id, {"i": case_id, "a": "unhcr"})).first()

        async def asyncpg_alone() -> object:
            return await raw.fetchrow(
                "SELECT * FROM cases WHERE id = $1 AND agency = $2", case_id, "unhcr"
            )

        async def orm_add_flush() -> object:
            session.add(Event(**event()))
            await session.flush()
            return None

        async def core_insert() -> object:
            return await session.execute(add_event, event())

        for label, work in (
            ("read, ORM, statement built per call", orm_built),
            ("read, ORM, statement built once", orm_once),
            ("read, Core, statement built once", core_once),
            ("read, asyncpg alone", asyncpg_alone),
            ("insert, ORM add + flush", orm_add_flush),
            ("insert, Core, statement built once", core_insert),
        ):
            print(f"{label:<40} {await cpu_per_call(calls, work):>8.0f} µs CPU per call")
        await session.rollback()
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    supplied = os.environ.get("ACCORD_TEST_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        admin = supplied or stack.enter_context(throwaway_cluster())
        name = f"accord_statements_{uuid.uuid4().hex[:8]}"
        url = create_database(admin, name)
        try:
            upgrade_to_head(url)
            asyncio.run(measure(url, args.calls))
        finally:
            drop_database(admin, name)


if __name__ == "__main__":
    main()
