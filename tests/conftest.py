"""Databases for tests, built by ``alembic upgrade head`` on SQLite and on PostgreSQL.

Each backend is migrated once per session into a template; every test then gets a fresh copy
(a file copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` for PostgreSQL), so tests exercise the
real commit path and never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kit.db.migrate import upgrade_to_head
from kit.settings import Settings
from services.app import create_app
from tests.support.app import make_settings, serving
from tests.support.nodes import Nodes
from tests.support.postgres import (
    create_database,
    drop_database,
    throwaway_cluster,
)

BACKENDS = ["sqlite", "postgresql"]


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


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the newest migration, on each backend in turn."""
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
async def nodes(node_database: Callable[[str], str], tmp_path: Path) -> AsyncIterator[Nodes]:
    """Several nodes in this process, each with its own database (``tests.support.nodes``)."""
    federation = Nodes(node_database, tmp_path)
    try:
        yield federation
    finally:
        await federation.aclose()


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


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client wired to the app in-process, with the app's lifespan running."""
    async with serving(app) as http:
        yield http
