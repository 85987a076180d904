"""The database a running app holds, and the one-session-per-request dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session as SyncSession
from sqlalchemy.orm import sessionmaker

from kit.settings import Settings

from .engine import READ_ONLY_OPTION, make_async_engine, make_sync_engine


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    sync_engine: Engine
    sync_sessions: sessionmaker[SyncSession]

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
            engine=engine,
            sessions=async_sessionmaker(engine, expire_on_commit=False),
            sync_engine=sync_engine,
            sync_sessions=sessionmaker(sync_engine, expire_on_commit=False),
        )

    async def close(self) -> None:
        await self.engine.dispose()
        self.sync_engine.dispose()


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back if it raises.

    Declared with ``scope="function"`` so the commit happens before the response is sent: a
    client never sees 201 for a write that then fails to commit.
    """
    async with database(request).sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
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
