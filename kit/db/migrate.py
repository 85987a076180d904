"""Apply and inspect migrations from code, for `accord init`, `/readyz` and the tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

import migrations

from .engine import make_sync_engine

MIGRATIONS_DIR = Path(migrations.__file__).parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str, *, master_key: bytes | None = None) -> None:
    """Bring the database at ``database_url`` to the newest schema, in one transaction.

    ``master_key``: the node master key, for migrations that re-seal stored data (0013); one
    that needs it and is not given it stops, unless there is nothing to re-seal.
    """
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(database_url)
            config.attributes["connection"] = connection
            if master_key is not None:
                config.attributes["master_key"] = master_key
            command.upgrade(config, "head")
    finally:
        engine.dispose()


@cache
def head_revisions() -> frozenset[str]:
    # Parsed once per process: the scripts do not change while it runs, and parsing them all
    # costs tens of milliseconds at every app start.
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.get_heads())


def current_revisions(connection: Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(connection).get_current_heads())
