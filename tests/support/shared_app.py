"""Apps shared by the tests of a worker, each test still in a transaction of its own.

``SharedApps`` (the ``make_app`` fixture): an app per distinct settings, re-bound to each
test's transaction. ``SharedNodes``: one app and one prepared database for every test of a
module, per backend.

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
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI

from kit.db.session import Database
from kit.observability.logging import configure_logging
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


#: Settings that the lifespan alone reads, and that tests give values of their own: the
#: federation's directory (a file in the test's ``tmp_path``) and its root key (the federation
#: of one test, ``tests.support.nodes``). Apps that differ only in these are alike, and the
#: shared app takes the test's values before its lifespan starts.
PER_TEST = ("directory", "directory_root_key")
#: Also the database, for an app that opens its own in its lifespan (a node of ``nodes``, or a
#: test on a fresh database).
PER_TEST_OWN_DATABASE = (*PER_TEST, "database_url")


def _key(settings: Settings, per_test: tuple[str, ...]) -> str:
    """The settings, secrets included: two apps are alike when every setting is, but those
    the test gives its own values."""

    def plain(value: Any) -> Any:
        reveal = getattr(value, "get_secret_value", None)
        return reveal() if reveal is not None else repr(value)

    values = settings.model_dump(exclude=set(per_test))
    return json.dumps([per_test, values], default=plain, sort_keys=True)


def _attributes(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: dict(vars(value))
        for name, value in state.items()
        if name != "settings" and hasattr(value, "__dict__")
    }


@dataclass
class _Shared:
    app: FastAPI
    bound: ReboundDatabase
    #: ``app.state`` and the routes as ``create_app`` left them: each test starts from them
    #: again (some add a probe route, or put a throttle with their own clock in the state).
    state: dict[str, Any]
    routes: list[Any]
    #: The attributes of each object in that state (tests set a clock on the idempotency
    #: keys, or how often they purge), by name in the state.
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_use: bool = False


class SharedApps:
    """A worker's apps on rolled-back transactions, one per distinct settings (the oldest
    dropped past ``keep``), so that a test whose settings another test had pays neither
    ``create_app`` nor FastAPI's first-request set-up of each route.

    Each test gets a shared app bound to its own transaction; when it ends the app is unbound
    and its state and routes are put back as ``create_app`` left them (the lifespan, which each
    test runs, fills the state again). A test that asks twice for the same settings gets two apps.
    """

    def __init__(self, keep: int = 8) -> None:
        self._keep = keep
        self._apps: dict[str, list[_Shared]] = {}

    def bound(self, settings: Settings, database: Database | None) -> tuple[FastAPI, _Shared]:
        """An app of these settings on ``database``, or, if None, on a database of its own
        that its lifespan opens (and closes) from ``settings.database_url``."""
        per_test = PER_TEST if database is not None else PER_TEST_OWN_DATABASE
        key = _key(settings, per_test)
        pool = self._apps.pop(key, [])
        self._apps[key] = pool  # the newest last
        shared = next((s for s in pool if not s.in_use), None)
        if shared is None:
            bound = ReboundDatabase()
            # With no database given, the lifespan opens (and closes) one from the settings.
            on = None if database is None else bound
            # A copy of its own: the next tests change its PER_TEST fields in place.
            app = create_app(settings.model_copy(), database=on)  # type: ignore[arg-type]
            state = dict(app.state._state)
            shared = _Shared(app, bound, state, list(app.router.routes), _attributes(state))
            pool.append(shared)
        else:
            # As create_app does first: the logging of these settings, on this test's stdout.
            configure_logging(level=settings.log_level, json=settings.log_json)
            held: Settings = shared.app.state.settings  # the object the lifespan reads
            for name in per_test:
                # Settings are frozen for the product's sake; this object is the shared app's
                # alone, and nothing reads these fields before the lifespan does.
                object.__setattr__(held, name, getattr(settings, name))
        if database is not None:
            shared.bound.bind(database)
        shared.in_use = True
        while len(self._apps) > self._keep:
            oldest = next(iter(self._apps))
            if any(s.in_use for s in self._apps[oldest]):
                break
            del self._apps[oldest]
        return shared.app, shared

    @staticmethod
    def release(shared: _Shared) -> None:
        shared.bound.unbind()
        # Tests count what their own requests add to the metrics: every series starts again
        # (all of the app's metrics have labels; the registry is the app's own).
        for collector in list(shared.app.state.metrics.registry._collector_to_names):
            collector.clear()
        shared.app.state._state.clear()
        shared.app.state._state.update(shared.state)
        for name, saved in shared.attributes.items():
            attributes = vars(shared.state[name])
            attributes.clear()
            attributes.update(saved)
        shared.app.router.routes[:] = shared.routes
        shared.app.openapi_schema = None
        shared.in_use = False


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
