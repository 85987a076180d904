"""The database a running app holds, and the one-session-per-request dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session as SyncSession
from starlette.concurrency import run_in_threadpool

from kit.settings import Settings

from .engine import READ_ONLY_OPTION, make_async_engine, make_sync_engine

_T = TypeVar("_T")


class BeforeCommit(Protocol):
    """What a request asks its transaction to write last (``kit.http.idempotency.Claim``)."""

    async def record(self, session: AsyncSession) -> None: ...


@dataclass(frozen=True)
class Database:
    """Sessions on the node's database: async ones for everything, sync ones for authlib.

    :meth:`open` gives the node engines of its own. :meth:`bound_to` gives a database that
    lives inside a transaction someone else holds on one connection: every session, async or
    sync, joins that transaction in a savepoint of its own, so its commit releases the savepoint
    and its rollback rolls back to it (SQLAlchemy's "join a session into an external
    transaction" recipe). The tests use it to roll each test back; nothing else should.
    """

    sessions: async_sessionmaker[AsyncSession]
    _engine: AsyncEngine | None = None
    _sync_engine: Engine | None = None
    _connection: AsyncConnection | None = None

    @classmethod
    def open(cls, settings: Settings) -> Database:
        engine = make_async_engine(
            settings.database_url,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            pool_size=settings.db_pool_size,
        )
        sync_engine = make_sync_engine(
            settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        return cls(
            sessions=async_sessionmaker(engine, expire_on_commit=False),
            _engine=engine,
            _sync_engine=sync_engine,
        )

    @classmethod
    def bound_to(cls, connection: AsyncConnection) -> Database:
        """Sessions on ``connection``, inside the transaction it is in. The caller owns (and
        ends) that transaction and the connection; :meth:`close` leaves both alone.

        One connection runs one statement at a time: whoever uses such a database must not let
        two sessions work at once (no background loops, no concurrent requests).
        """
        if not connection.in_transaction():
            raise ValueError("bind a Database to a connection inside a transaction")
        return cls(
            sessions=async_sessionmaker(
                connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
            ),
            _connection=connection,
        )

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a few statements outside any ORM session (health checks)."""
        if self._connection is not None:
            savepoint = await self._connection.begin_nested()
            try:
                yield self._connection
            finally:
                await savepoint.rollback()
            return
        assert self._engine is not None  # noqa: S101 - one of the two is always set
        async with self._engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def one_read(self) -> AsyncIterator[AsyncSession]:
        """A session for a single read statement. On PostgreSQL it runs in autocommit: no BEGIN
        and no ROLLBACK around it, two round trips fewer (the caller's standing is read so on
        every API call); elsewhere, and inside a test's transaction, a read-only transaction."""
        async with self.sessions() as session:
            if self._engine is not None and self._engine.dialect.name == "postgresql":
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            else:
                await read_only(session)
            yield session

    async def in_sync_session(self, work: Callable[[SyncSession], _T]) -> _T:
        """``work(session)`` with a synchronous ORM session (authlib is synchronous); ``work``
        commits what it means to keep.

        It runs on a worker thread, on a connection of the sync engine, so the event loop serves
        other requests meanwhile. On a bound database it runs on the event loop, on the shared
        connection (through SQLAlchemy's greenlet bridge), in a savepoint.
        """
        if self._connection is not None:
            return await self._connection.run_sync(_in_savepoint, work)
        sync_engine = self._sync_engine
        assert sync_engine is not None  # noqa: S101 - one of the two is always set

        def run() -> _T:
            with SyncSession(sync_engine, expire_on_commit=False) as session:
                return work(session)

        return await run_in_threadpool(run)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        if self._sync_engine is not None:
            self._sync_engine.dispose()


def _in_savepoint(connection: Connection, work: Callable[[SyncSession], _T]) -> _T:
    with SyncSession(
        connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    ) as session:
        return work(session)


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back if it raises.

    Declared with ``scope="function"`` so the commit happens before the response is sent: a
    client never sees 201 for a write that then fails to commit. A request that holds an
    ``Idempotency-Key`` writes its answer into the key in this same transaction, just before
    the commit (``kit.http.idempotency``), so the change and its answer commit together.
    """
    async with database(request).sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            claim: BeforeCommit | None = request.scope.get("state", {}).get("idempotency")
            if claim is not None:
                await claim.record(session)
            await session.commit()


Session = Annotated[AsyncSession, Depends(request_session, scope="function")]


async def read_only_request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """For handlers that only read (and write no audit event): on SQLite their transaction
    neither waits for nor holds the write lock, so listings never stall delivery workers."""
    async with database(request).sessions() as session:
        await read_only(session)
        yield session


async def read_only(session: AsyncSession) -> None:
    """Mark ``session``'s next transaction read-only (before its first statement)."""
    await session.connection(execution_options={READ_ONLY_OPTION: True})


ReadSession = Annotated[AsyncSession, Depends(read_only_request_session, scope="function")]
