"""One app and one prepared database for every test of a module, per backend.

``create_app`` takes a third of a second, and the app then builds each route's dependencies
the first time a request reaches it: for a module of some hundred and fifty short tests, each
on an app of its own, that was most of the module's time. Here a module builds its app once
per backend, on a database prepared once (committed, like ``tests.support.sop.Prepared``),
and each test still runs in a transaction of its own, rolled back at its end: the app's
database is re-bound to that transaction before the test starts the app's lifespan (the
``client`` fixture), so everything the lifespan and the requests build sees only this test's
rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI

from kit.db.session import Database
from kit.settings import Settings
from services.app import create_app
from tests.support.app import serving
from tests.support.identity import BASE_URL
from tests.support.postgres import create_database, drop_database
from tests.support.worker import WorkerDatabase


class ReboundDatabase:
    """The database the shared app holds: whichever test transaction it is bound to now.

    Everything a ``Database`` offers is looked up on the bound one at the moment it is used,
    so the app's lifespan, run by each test, builds its services on that test's transaction.
    """

    def __init__(self) -> None:
        self._bound: Database | None = None

    def bind(self, database: Database) -> None:
        assert self._bound is None, "the shared app is bound to another test's transaction"
        self._bound = database

    def unbind(self) -> None:
        self._bound = None

    def __getattr__(self, name: str) -> Any:
        bound = self.__dict__.get("_bound")
        if bound is None:
            raise RuntimeError("the shared app is used outside a test's transaction")
        return getattr(bound, name)

    async def close(self) -> None:
        """The test that bound it owns the transaction and its connection."""


#: Commits what every test of the module starts from, through an app on the database.
Setup = Callable[[FastAPI], Awaitable[None]]


@dataclass
class SharedNode:
    database: WorkerDatabase
    app: FastAPI
    bound: ReboundDatabase


class SharedNodes:
    """Per backend, when a test first asks: a copy of the migrated template, ``setup`` run on
    it and committed, and one app for every test on it (bound to each test's transaction in
    turn). ``settings(url, directory)`` gives the node's settings."""

    def __init__(
        self,
        request: pytest.FixtureRequest,
        tmp: pytest.TempPathFactory,
        settings: Callable[[str, Path], Settings],
        setup: Setup,
    ) -> None:
        self._request = request
        self._tmp = tmp
        self._settings = settings
        self._setup = setup
        self._made: dict[str, SharedNode] = {}
        self._postgres: tuple[str, str] | None = None

    def of(self, backend: str) -> SharedNode:
        if backend not in self._made:
            self._made[backend] = self._prepare(backend)
        return self._made[backend]

    def _prepare(self, backend: str) -> SharedNode:
        directory = self._tmp.mktemp(f"shared-{backend}")
        engine_options: dict[str, Any] = {}
        if backend == "sqlite":
            shutil.copyfile(self._request.getfixturevalue("sqlite_template"), directory / "a.db")
            url = f"sqlite:///{directory / 'a.db'}"
        else:
            admin = self._request.getfixturevalue("postgres_admin_url")
            name = f"accord_shared_{os.getpid()}"
            drop_database(admin, name)
            url = create_database(
                admin, name, template=self._request.getfixturevalue("postgres_template")
            )
            self._postgres = (admin, name)
            # As the worker's own database: only the tests' connection may write to it.
            engine_options = {
                "connect_args": {"server_settings": {"default_transaction_read_only": "off"}}
            }
        settings = self._settings(url, directory)

        async def build() -> None:
            app = create_app(settings)
            async with serving(app, BASE_URL):
                await self._setup(app)

        with ThreadPoolExecutor(max_workers=1) as thread:
            thread.submit(asyncio.run, build()).result()
        if self._postgres is not None and backend == "postgresql":
            with psycopg.connect(self._postgres[0], autocommit=True) as connection:
                connection.execute(
                    f'ALTER DATABASE "{self._postgres[1]}" SET default_transaction_read_only = on'
                )
        bound = ReboundDatabase()
        return SharedNode(
            database=WorkerDatabase.at(url, **engine_options),
            app=create_app(settings, database=bound),  # type: ignore[arg-type]
            bound=bound,
        )

    @contextlib.contextmanager
    def bound_to(self, backend: str, database: Database) -> Any:
        """The backend's app, on ``database`` (the test's transaction) until the block ends."""
        node = self.of(backend)
        node.bound.bind(database)
        try:
            yield node.app
        finally:
            node.bound.unbind()

    def close(self) -> None:
        for node in self._made.values():
            node.database.close()
        if self._postgres is not None:
            # The cluster may be gone already, and the database with it.
            with contextlib.suppress(psycopg.OperationalError):
                drop_database(*self._postgres)
