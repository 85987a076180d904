"""The database one pytest worker shares among its tests, each in a transaction rolled back at
its end; checked after every test to be as migrated, so a test that committed for real (by a
connection not bound to its transaction) fails at once, not some later test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.db.engine import READ_ONLY_OPTION, make_async_engine, make_sync_engine


def _row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as connection:
        tables = inspect(connection).get_table_names()
        counts = " UNION ALL ".join(
            f"SELECT '{name}', count(*) FROM \"{name}\""  # noqa: S608 - the schema's own names
            for name in tables
        )
        return {str(name): int(count) for name, count in connection.execute(text(counts))}


@dataclass
class WorkerDatabase:
    url: str
    #: The engine of every test's connection. One for the worker, so the SQL it compiles is
    #: cached across tests; each test disposes of its pool, whose connections belong to the
    #: test's event loop.
    engine: AsyncEngine
    _engine: Engine
    _as_migrated: dict[str, int] = field(default_factory=dict)

    @classmethod
    def at(cls, url: str, **engine_options: Any) -> WorkerDatabase:
        """``url``, migrated and untouched: its row counts now are what every test leaves."""
        engine = make_sync_engine(url)
        return cls(url, make_async_engine(url, **engine_options), engine, _row_counts(engine))

    def assert_as_migrated(self, test: str) -> None:
        now = _row_counts(self._engine)
        changed = {
            table: (self._as_migrated.get(table), count)
            for table, count in now.items()
            if count != self._as_migrated.get(table)
        }
        assert not changed, (
            f"{test} committed rows into its worker's shared database (table: before, after): "
            f"{changed}; mark it fresh_database, or bind what wrote them to the test's "
            "transaction (the make_app fixture)"
        )

    def close(self) -> None:
        self._engine.dispose()
