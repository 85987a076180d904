"""Alembic environment: runs on the connection or URL that kit.db.migrate hands it."""

from __future__ import annotations

from alembic import context

from kit.db.base import UtcDateTime
from kit.db.engine import make_sync_engine
from services.models import target_metadata

config = context.config


def _render_item(type_, obj, _autogen_context):  # type: ignore[no-untyped-def]
    """Write our column types as the plain SQLAlchemy types they store, so a migration never
    imports application code that may change after it has landed."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        # kit.db.engine makes SQLite transactions explicit, so its DDL is transactional too.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_sync_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `accord init`")
run_migrations_online()
