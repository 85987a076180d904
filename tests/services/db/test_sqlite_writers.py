"""On SQLite, writing transactions queue on the event loop for the database's one writer
(``kit.db.engine``) instead of napping in SQLite's busy handler, and each lets the next go the
moment it ends, committed or rolled back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from kit.db.engine import make_async_engine


@pytest.fixture
async def sessions(tmp_path: Path):
    # A long busy timeout: a writer that waited for it instead of the previous writer's end
    # would make the test take seconds.
    engine = make_async_engine(f"sqlite:///{tmp_path / 'writers.db'}", busy_timeout_ms=5000)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE counter (n INTEGER)"))
        await connection.execute(text("INSERT INTO counter VALUES (0)"))
    yield async_sessionmaker(engine)
    await engine.dispose()


async def _increment(sessions, *, fail: bool = False) -> None:
    async with sessions() as session, session.begin():
        n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
        await session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        if fail:
            raise RuntimeError("rolled back")


async def test_writers_get_the_database_in_the_order_they_asked_for_it(sessions) -> None:
    """First come, first served: none is overtaken by later ones (in SQLite's busy handler
    whoever wakes from its nap first wins, and an unlucky writer waits out many turns)."""
    engine = sessions.kw["bind"]
    order: list[int] = []
    # Each writer holds its connection before asking, so opening one does not reorder them.
    connections = [await engine.connect() for _ in range(11)]

    async def write(number: int, hold: float = 0.0) -> None:
        connection = connections[number]
        async with connection.begin():
            await connection.execute(text("UPDATE counter SET n = n + 1"))
            order.append(number)
            await asyncio.sleep(hold)  # the transaction stays open, holding the database
        await connection.close()

    first = asyncio.create_task(write(0, hold=0.1))
    await asyncio.sleep(0.02)
    waiting = []
    for number in range(1, 11):
        waiting.append(asyncio.create_task(write(number)))
        await asyncio.sleep(0.005)
    await asyncio.gather(first, *waiting)
    assert order == list(range(11))


async def test_a_rolled_back_writer_lets_the_next_one_go(sessions) -> None:
    with pytest.raises(RuntimeError):
        await _increment(sessions, fail=True)
    started = time.monotonic()
    await _increment(sessions)
    assert time.monotonic() - started < 1.0, "the lock went with the rolled-back connection"
    async with sessions() as session:
        assert (await session.execute(text("SELECT n FROM counter"))).scalar_one() == 1


async def test_a_writer_of_another_process_waits_its_turn_outside_sqlites_busy_handler(
    tmp_path: Path,
) -> None:
    """Two engines on one file stand for two worker processes (each opens the writers' lock
    file for itself). The second's ``BEGIN IMMEDIATE`` is not sent while the first holds the
    database: it waits on the lock file, and starts when the first's transaction has ended,
    instead of napping in SQLite's busy handler (1, 2, 5, … 100 ms a nap) and trying again."""
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    first = make_async_engine(url, busy_timeout_ms=5000)
    second = make_async_engine(url, busy_timeout_ms=5000)
    async with first.begin() as connection:
        await connection.execute(text("CREATE TABLE counter (n INTEGER)"))
        await connection.execute(text("INSERT INTO counter VALUES (0)"))
    seen: list[str] = []

    def begins(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            seen.append("second begins")

    event.listen(second.sync_engine, "before_cursor_execute", begins)
    holding = asyncio.Event()

    async def hold() -> None:
        async with first.begin() as connection:
            await connection.execute(text("UPDATE counter SET n = n + 1"))
            holding.set()
            await asyncio.sleep(0.2)  # the transaction stays open, holding the database
            seen.append("first ends")

    async def write() -> None:
        await holding.wait()
        async with second.begin() as connection:
            await connection.execute(text("UPDATE counter SET n = n + 1"))

    try:
        await asyncio.gather(hold(), write())
        event.remove(second.sync_engine, "before_cursor_execute", begins)
        async with second.connect() as connection:
            assert (await connection.execute(text("SELECT n FROM counter"))).scalar_one() == 2
    finally:
        await first.dispose()
        await second.dispose()
    assert seen == ["first ends", "second begins"]
