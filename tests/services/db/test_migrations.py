"""The schema is only ever changed by a migration: head matches the models exactly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, Boolean, DateTime, Uuid, column, inspect, table, text

from kit.db.engine import make_sync_engine
from kit.db.migrate import alembic_config, current_revisions, head_revisions, upgrade_to_head
from services.models import target_metadata


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


# The tables as migration 0010 left them, typed so that both backends bind the values.
AGENCIES = table("agencies", column("slug"), column("name"), column("created_at", DateTime()))
USERS = table(
    "users",
    column("id", Uuid()),
    *(column(name) for name in ("agency", "email", "display_name", "password_hash")),
    *(column(name, JSON()) for name in ("roles", "data_roles")),
    column("disabled", Boolean()),
    *(column(name, DateTime()) for name in ("updated_at", "created_at")),
)
SOP_DEFINITIONS = table(
    "sop_definitions",
    *(column(name) for name in ("id", "version", "title", "source", "uploaded_by")),
    column("created_at", DateTime()),
)
PROGRAMMES = table(
    "programmes",
    column("id", Uuid()),
    *(column(name) for name in ("agency", "title", "sop_id", "sop_version")),
    *(column(name, JSON()) for name in ("bindings", "agreements", "params")),
    column("created_at", DateTime()),
)


def _at(database_url: str, revision: str, *, down: bool = False) -> None:
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(database_url)
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def test_stored_sops_go_to_their_uploader_and_to_the_agencies_running_them(
    empty_database_url: str,
) -> None:
    _at(empty_database_url, "0010")
    now = datetime.now(UTC)
    user_id = uuid.uuid4()
    engine = make_sync_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                AGENCIES.insert(),
                [{"slug": slug, "name": slug, "created_at": now} for slug in ("iom", "unhcr")],
            )
            connection.execute(
                USERS.insert(),
                {
                    "id": user_id,
                    "agency": "unhcr",
                    "email": "admin@unhcr.example",
                    "display_name": "Admin",
                    "roles": ["admin"],
                    "data_roles": [],
                    "password_hash": "x",
                    "disabled": False,
                    "updated_at": now,
                    "created_at": now,
                },
            )
            stored = [
                ("by-unhcr", f"user:{user_id}"),  # resolves to unhcr; iom runs it too
                ("orphan", "client:gone"),  # nobody known: every hosted agency keeps it
            ]
            connection.execute(
                SOP_DEFINITIONS.insert(),
                [
                    {
                        "id": sop_id,
                        "version": "1.0.0",
                        "title": sop_id,
                        "source": f"id: {sop_id}",
                        "uploaded_by": uploaded_by,
                        "created_at": now,
                    }
                    for sop_id, uploaded_by in stored
                ],
            )
            connection.execute(
                PROGRAMMES.insert(),
                {
                    "id": uuid.uuid4(),
                    "agency": "iom",
                    "title": "Runs it",
                    "sop_id": "by-unhcr",
                    "sop_version": "1.0.0",
                    "bindings": {},
                    "agreements": [],
                    "params": {},
                    "created_at": now,
                },
            )
    finally:
        engine.dispose()

    _at(empty_database_url, "0012")
    engine = make_sync_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            owners = set(
                connection.execute(text("SELECT id, agency, source FROM sop_definitions")).all()
            )
            key = inspect(connection).get_pk_constraint("sop_definitions")["constrained_columns"]
    finally:
        engine.dispose()
    assert owners == {
        ("by-unhcr", "unhcr", "id: by-unhcr"),
        ("by-unhcr", "iom", "id: by-unhcr"),
        ("orphan", "iom", "id: orphan"),
        ("orphan", "unhcr", "id: orphan"),
    }
    assert key == ["agency", "id", "version"]

    _at(empty_database_url, "0010", down=True)
    engine = make_sync_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            left = connection.execute(text("SELECT id FROM sop_definitions ORDER BY id")).all()
    finally:
        engine.dispose()
    assert [row.id for row in left] == ["by-unhcr", "orphan"]
