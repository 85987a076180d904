"""Databases for tests, built by ``alembic upgrade head`` on SQLite and on PostgreSQL.

Each xdist worker migrates one database per backend, once. A test then runs inside a transaction
on one connection, rolled back when it ends; the app under test is bound to that connection
(``Database.bound_to``), so every session it opens joins the transaction in a savepoint and its
commits are savepoint releases (SQLAlchemy's "join a session into an external transaction"
recipe). Tests never see each other's rows, and nothing is deleted to isolate them.

A test marked ``fresh_database`` gets a database of its own instead, committed for real (a copy
of a migrated template: a file copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` for
PostgreSQL): for commits that other connections or processes must see, and for concurrent
requests, which one connection cannot serve. Several in-process nodes (``nodes``) always have
fresh databases of their own.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from kit.db.migrate import upgrade_to_head
from kit.db.session import Database
from kit.settings import Settings
from tests.support.app import make_settings, serving
from tests.support.nodes import Nodes
from tests.support.postgres import (
    create_database,
    drop_database,
    throwaway_cluster,
)
from tests.support.shared_app import SharedApps
from tests.support.worker import WorkerDatabase

BACKENDS = ["sqlite", "postgresql"]

#: The files that take longest (real node processes, a browser, CLI subprocesses), longest
#: first. They are collected ahead of the rest so that, run with ``--dist loadfile
#: --no-loadscope-reorder`` (the Makefile), they start beside the many short files instead of
#: trailing alone at the end (xdist would otherwise start the files with the most tests first).
LONGEST_FIRST = (
    "tests/federation/test_kill.py",
    "tests/demo/",
    "tests/federation/test_two_nodes.py",
    # One test of some 40 s (schemathesis): started late, it would run on alone at the end.
    "tests/services/test_openapi.py",
    "tests/federation/test_scale_out.py",
    "tests/services/test_cli",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.relative_to(config.rootpath).as_posix()
        return next(
            (n for n, prefix in enumerate(LONGEST_FIRST) if path.startswith(prefix)),
            len(LONGEST_FIRST),
        )

    items.sort(key=rank)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL superuser URL: ACCORD_TEST_DATABASE_URL, or a cluster started for the run."""
    supplied = os.environ.get("ACCORD_TEST_DATABASE_URL")
    if supplied:
        yield supplied
        return
    with throwaway_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    name = f"accord_template_{os.getpid()}"
    drop_database(postgres_admin_url, name)
    upgrade_to_head(create_database(postgres_admin_url, name))
    yield name
    drop_database(postgres_admin_url, name)


def _fresh_sqlite(template: Path, directory: Path) -> str:
    target = directory / "accord.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def sqlite_worker(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerDatabase]:
    """This worker's SQLite database, for every test that rolls back. (While a test runs, its
    transaction holds the write lock, so a connection not bound to it cannot write.)"""
    worker = WorkerDatabase.at(
        _fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("sqlite-worker"))
    )
    yield worker
    worker.close()


@pytest.fixture(scope="session")
def postgresql_worker(postgres_admin_url: str, postgres_template: str) -> Iterator[WorkerDatabase]:
    """This worker's PostgreSQL database, for every test that rolls back.

    Its transactions are read-only unless a connection says otherwise, as the tests' own
    connection does: an app or command that reached it any other way would commit into every
    later test, so its first write fails instead.
    """
    name = f"accord_worker_{os.getpid()}"
    drop_database(postgres_admin_url, name)
    url = create_database(postgres_admin_url, name, template=postgres_template)
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    # The one connection that may write to it (asyncpg's startup parameters override the
    # database's default).
    worker = WorkerDatabase.at(
        url, connect_args={"server_settings": {"default_transaction_read_only": "off"}}
    )
    yield worker
    worker.close()
    drop_database(postgres_admin_url, name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def fresh_database_wanted(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("fresh_database") is not None


@pytest.fixture
def shared_database(backend: str, request: pytest.FixtureRequest) -> WorkerDatabase:
    """The database this worker's tests share, each in a transaction rolled back at its end:
    the migrated one, unless a directory's conftest offers one prepared further (as the SOP
    tests do, with the demo federation set up once)."""
    worker: WorkerDatabase = request.getfixturevalue(f"{backend}_worker")
    return worker


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The test's database at the newest migration, on each backend in turn: this worker's
    (the test runs in a transaction rolled back at its end), or, for a test marked
    ``fresh_database``, one of its own."""
    if not fresh_database_wanted(request):
        worker: WorkerDatabase = request.getfixturevalue("shared_database")
        yield worker.url
        # After the test's transaction rolled back (``bound_database`` ends first).
        worker.assert_as_migrated(request.node.nodeid)
        return
    if backend == "sqlite":
        yield _fresh_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    template = request.getfixturevalue("postgres_template")
    name = f"accord_test_{uuid.uuid4().hex[:12]}"
    url = create_database(admin_url, name, template=template)
    yield url
    drop_database(admin_url, name)


@pytest.fixture
async def bound_database(
    backend: str, database_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[Database | None]:
    """The test's transaction, as a ``Database`` the app under test is bound to; rolled back
    when the test ends. None for a test on a fresh database: its app opens its own."""
    if fresh_database_wanted(request):
        yield None
        return
    engine = request.getfixturevalue("shared_database").engine
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            try:
                yield Database.bound_to(connection)
            finally:
                await transaction.rollback()
    finally:
        await engine.dispose()


@pytest.fixture
def node_database(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[str], str]]:
    """Fresh databases at the newest migration for further nodes of one test, by name."""
    made: list[str] = []

    def fresh(name: str) -> str:
        if backend == "sqlite":
            directory = tmp_path / f"node-{name}"
            directory.mkdir()
            return _fresh_sqlite(request.getfixturevalue("sqlite_template"), directory)
        database = f"accord_node_{uuid.uuid4().hex[:12]}"
        made.append(database)
        return create_database(
            request.getfixturevalue("postgres_admin_url"),
            database,
            template=request.getfixturevalue("postgres_template"),
        )

    yield fresh
    for database in made:
        drop_database(request.getfixturevalue("postgres_admin_url"), database)


@pytest.fixture
async def nodes(
    node_database: Callable[[str], str], tmp_path: Path, shared_apps: SharedApps
) -> AsyncIterator[Nodes]:
    """Several nodes in this process, each with its own database (``tests.support.nodes``),
    on apps the worker keeps (``tests.support.shared_app``)."""
    taken = []

    def make(settings: Settings) -> FastAPI:
        app, shared = shared_apps.bound(settings, None)
        taken.append(shared)
        return app

    federation = Nodes(node_database, tmp_path, make)
    try:
        yield federation
    finally:
        try:
            await federation.aclose()
        finally:
            for shared in taken:
                shared_apps.release(shared)


@pytest.fixture
def empty_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A database with no schema at all, on each backend in turn."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"accord_empty_{uuid.uuid4().hex[:12]}"
    yield create_database(admin_url, name)
    drop_database(admin_url, name)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
def shared_apps() -> SharedApps:
    return SharedApps()


@pytest.fixture
def make_app(
    bound_database: Database | None, shared_apps: SharedApps
) -> Iterator[Callable[[Settings], FastAPI]]:
    """``make_app(settings)``: an app on the test's database (bound to its transaction, unless
    the test has a fresh database), for tests that need a second app with other settings.

    The app is one the worker keeps for these settings (``tests.support.shared_app``), bound
    to this test's transaction (or on the test's fresh database) until the test ends.
    """
    taken = []

    def make(settings: Settings) -> FastAPI:
        if bound_database is not None and settings.background_workers:
            # Their loops would use the one connection while the test does.
            raise ValueError("an app on a rolled-back transaction runs no background loops")
        app, shared = shared_apps.bound(settings, bound_database)
        taken.append(shared)
        return app

    yield make
    for shared in taken:
        shared_apps.release(shared)


@pytest.fixture
def app(settings: Settings, make_app: Callable[[Settings], FastAPI]) -> FastAPI:
    return make_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client wired to the app in-process, with the app's lifespan running."""
    async with serving(app) as http:
        yield http
