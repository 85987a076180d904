"""The demo federation, prepared once per worker and backend for the journey and household
tests (``tests.support.sop.Prepared``)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

import psycopg
import pytest

from tests.support.postgres import create_database, drop_database
from tests.support.sop import Prepared, prepare_once


class PreparedFederations:
    """One prepared database per backend, made when a test first asks for it."""

    def __init__(self, request: pytest.FixtureRequest, tmp: pytest.TempPathFactory) -> None:
        self._request = request
        self._tmp = tmp
        self._made: dict[str, Prepared] = {}
        #: The PostgreSQL database made, and the admin URL to drop it with.
        self._postgres: tuple[str, str] | None = None

    def of(self, backend: str) -> Prepared:
        if backend not in self._made:
            self._made[backend] = self._prepare(backend)
        return self._made[backend]

    def _prepare(self, backend: str) -> Prepared:
        directory = self._tmp.mktemp(f"sop-{backend}")
        if backend == "sqlite":
            template = self._request.getfixturevalue("sqlite_template")
            shutil.copyfile(template, directory / "accord.db")
            return prepare_once(f"sqlite:///{directory / 'accord.db'}", directory)
        admin = self._request.getfixturevalue("postgres_admin_url")
        name = f"accord_sop_{os.getpid()}"
        drop_database(admin, name)
        url = create_database(
            admin, name, template=self._request.getfixturevalue("postgres_template")
        )
        self._postgres = (admin, name)
        prepared = prepare_once(
            url,
            directory,
            connect_args={"server_settings": {"default_transaction_read_only": "off"}},
        )
        # As the worker's own database: only the tests' connection may write to it.
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        return prepared

    def close(self) -> None:
        for prepared in self._made.values():
            prepared.database.close()
        if self._postgres is not None:
            # The cluster may be gone already (it was started after this fixture, so it stops
            # first), and the database with it.
            with contextlib.suppress(psycopg.OperationalError):
                drop_database(*self._postgres)


@pytest.fixture(scope="session")
def prepared_federations(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PreparedFederations]:
    federations = PreparedFederations(request, tmp_path_factory)
    yield federations
    federations.close()
