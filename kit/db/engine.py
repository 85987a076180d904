"""Engines for the embedded SQLite default and for PostgreSQL, from one configured URL.

``hide_parameters``: a failing statement's error names the SQL, never the values bound to it,
which may be personal data and would otherwise reach the log.

One URL serves two drivers: the API and the workers use async SQLAlchemy (asyncpg, or
aiosqlite), while Alembic and authlib's synchronous token endpoint use a sync engine (psycopg 3,
or the standard library's sqlite3). DESIGN §2 records why.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import await_only

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_SYNC_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}


#: A pooled PostgreSQL connection back in the pool for longer than this is pinged before it is
#: lent again (a server restart or a dropped link shows up there, not in a request); one in
#: steady use is not, because the ping is a round trip of its own on every request (issue 19:
#: with SQLAlchemy's ``pool_pre_ping`` a tenth of a warm request's CPU).
IDLE_PING_SECONDS = 1.0

#: Execution option marking a transaction that will not write (SQLite: a deferred BEGIN).
READ_ONLY_OPTION = "accord_read_only"


class UnsupportedDatabase(ValueError):
    pass


def _url_for(url: str | URL, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise UnsupportedDatabase(
            f"database backend {backend!r} is not supported; use sqlite:/// or postgresql://"
        )
    return parsed.set(drivername=drivers[backend])


def async_url(url: str | URL) -> URL:
    return _url_for(url, _ASYNC_DRIVERS)


def sync_url(url: str | URL) -> URL:
    return _url_for(url, _SYNC_DRIVERS)


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _ensure_sqlite_dir(url: URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


#: Where a pooled SQLite connection keeps the writer lock it holds (its pool record's info).
_HOLDS_WRITER = "accord_holds_writer"
#: Where it keeps the descriptor of the lock file it holds, when it holds that as well.
_HOLDS_FILE = "accord_holds_writer_file"


class _Writers:
    """One writing transaction at a time per SQLite database, queued on the event loop and,
    across processes, on a lock file beside the database.

    SQLite has one writer; a second ``BEGIN IMMEDIATE`` waits in SQLite's busy handler, which
    sleeps and polls (1, 2, 5, 10, ... up to 100 ms a nap), so under load a write waits far
    longer than the one before it takes, and the p99 of every write climbs into seconds (issue
    19: 1.7 s on a demo node). Queued on an asyncio lock instead, the next writer of the process
    starts the moment the previous one returns its connection. The node's other worker
    processes are kept out by an exclusive ``flock`` on ``<database>-writer.lock``, waited for
    on a thread (the kernel wakes the next holder the moment the lock is let go; the event loop
    goes on meanwhile). After ``timeout`` seconds of waiting a writer goes ahead anyway, into
    SQLite's own busy timeout: a lock held by a connection that is never returned (a test's
    outer transaction) delays others, never blocks them for good.
    """

    def __init__(self, timeout: float, lock_path: Path | None) -> None:
        self.timeout = timeout
        self._locks: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            WeakKeyDictionary()
        )
        self._lock_path = lock_path

    def acquire(self, record_info: dict[str, Any]) -> None:
        """Take the lock for the connection whose pool record's info this is (in SQLAlchemy's
        greenlet, from a synchronous event)."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        deadline = time.monotonic() + self.timeout
        try:
            await_only(asyncio.wait_for(lock.acquire(), self.timeout))
        except TimeoutError:
            return
        record_info[_HOLDS_WRITER] = lock
        if self._lock_path is not None:
            held = await_only(_lock_file(self._lock_path, deadline))
            if held is not None:
                record_info[_HOLDS_FILE] = held

    @staticmethod
    def release(record_info: dict[str, Any]) -> None:
        held = record_info.pop(_HOLDS_FILE, None)
        if held is not None:
            os.close(held)  # closing the descriptor lets the lock go
        lock = record_info.pop(_HOLDS_WRITER, None)
        if lock is not None:
            lock.release()


async def _lock_file(path: Path, deadline: float) -> int | None:
    """A descriptor of ``path`` holding its exclusive ``flock``, or None past ``deadline``.

    A descriptor of its own each time: ``flock`` belongs to the open file, so a wait given up
    (and still pending on its thread) cannot take or let go a lock held through another."""
    held = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return held
    except BlockingIOError:
        pass
    except BaseException:
        os.close(held)
        raise
    waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, held, fcntl.LOCK_EX)
    try:
        await asyncio.wait_for(asyncio.shield(waiting), max(0.0, deadline - time.monotonic()))
    except BaseException as stopped:
        # The thread may still take the lock: it is let go (the descriptor closed) once it has.
        waiting.add_done_callback(lambda _: os.close(held))
        if isinstance(stopped, TimeoutError):
            return None
        raise
    return held


def _queue_sqlite_writers(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """Writers wait on :class:`_Writers` before ``BEGIN IMMEDIATE``; the lock is let go when the
    connection goes back to the pool (after its COMMIT or ROLLBACK has finished, so the next
    writer never meets a lock still held)."""
    database = engine.url.database
    lock_path = Path(f"{database}-writer.lock") if database and database != ":memory:" else None
    writers = _Writers(busy_timeout_ms / 1000, lock_path)
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "begin")
    def _before_begin(connection: Any) -> None:
        if not connection.get_execution_options().get(READ_ONLY_OPTION):
            writers.acquire(connection.connection.info)

    for name in ("checkin", "invalidate", "soft_invalidate", "detach"):
        event.listen(sync_engine.pool, name, _release_writer)


def _release_writer(_dbapi_connection: Any, record: Any, *_: Any) -> None:
    if record is not None:
        _Writers.release(record.info)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, a busy timeout, and transactions SQLAlchemy controls.

    pysqlite opens transactions lazily and commits around DDL on its own, which breaks
    SAVEPOINTs and transactional migrations; SQLAlchemy's documented remedy is to switch the
    driver's own handling off and emit BEGIN ourselves. ``BEGIN IMMEDIATE`` takes the write lock
    up front, so two writers queue on the busy timeout instead of one failing with
    "database is locked" when it upgrades a read lock mid-transaction.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A transaction that only reads must not queue behind (or block) writers.
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _ping_when_idle(engine: Engine) -> None:
    dialect = engine.dialect

    @event.listens_for(engine.pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _lent(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned <= IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and lends a fresh one instead.
            raise DisconnectionError("the pooled connection no longer answers") from error


def make_sync_engine(url: str | URL, *, busy_timeout_ms: int = 10_000, **kwargs: Any) -> Engine:
    target = sync_url(url)
    if target.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(target)
        engine = create_engine(target, hide_parameters=True, **kwargs)
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    engine = create_engine(target, hide_parameters=True, **kwargs)
    _ping_when_idle(engine)
    return engine


def make_async_engine(
    url: str | URL, *, busy_timeout_ms: int = 10_000, pool_size: int = 10, **kwargs: Any
) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(target)
        engine = create_async_engine(target, hide_parameters=True, **kwargs)
        # Registered first, so a writer has the lock before ``_configure_sqlite``'s BEGIN.
        _queue_sqlite_writers(engine, busy_timeout_ms)
        _configure_sqlite(engine.sync_engine, busy_timeout_ms)
        return engine
    async_engine = create_async_engine(target, pool_size=pool_size, hide_parameters=True, **kwargs)
    _ping_when_idle(async_engine.sync_engine)
    return async_engine
