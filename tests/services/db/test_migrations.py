"""The schema is only ever changed by a migration: head matches the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.db.engine import make_sync_engine
from services.db.migrate import current_revisions, head_revisions, upgrade_to_head
from services.db.models import target_metadata


def test_empty_database_migrates_to_head_without_drift(empty_database_url: str) -> None:
    upgrade_to_head(empty_database_url)
    engine = make_sync_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            assert current_revisions(connection) == head_revisions()
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "target_metadata": target_metadata}
            )
            differences = compare_metadata(context, target_metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert differences == [], f"models and migrations differ: {differences[:3]}"
    assert set(target_metadata.tables) <= tables


def test_upgrade_is_idempotent(empty_database_url: str) -> None:
    upgrade_to_head(empty_database_url)
    upgrade_to_head(empty_database_url)
    engine = make_sync_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            assert current_revisions(connection) == head_revisions()
    finally:
        engine.dispose()


def test_migrations_form_a_single_line() -> None:
    assert len(head_revisions()) == 1, "two migration heads: merge them before landing"
