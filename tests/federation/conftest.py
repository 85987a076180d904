from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.postgres import create_database, drop_database


@pytest.fixture(params=["sqlite", "postgresql"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """Nodes on 127.0.0.1, each with a database of its own, on SQLite or on PostgreSQL, copied
    from the session's migrated template (``accord init`` then has no migration to run)."""
    created: list[str] = []
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")

        def url_for(name: str) -> str:
            target = tmp_path / f"{name}.db"
            shutil.copyfile(template, target)
            return f"sqlite:///{target}"
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        pg_template = request.getfixturevalue("postgres_template")

        def url_for(name: str) -> str:
            database = f"accord_node_{name}_{uuid.uuid4().hex[:8]}"
            created.append(database)
            return create_database(admin, database, template=pg_template)

    built = Cluster(tmp_path, url_for)
    try:
        yield built
    finally:
        built.stop()
        if request.param == "postgresql":
            admin = request.getfixturevalue("postgres_admin_url")
            for database in created:
                drop_database(admin, database)


@pytest.fixture
def backend_name(cluster: Cluster, request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["cluster"])
