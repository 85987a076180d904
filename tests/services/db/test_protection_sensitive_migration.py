"""Migration 0013 (DESIGN §9): protection-sensitive facts stored in ``specific_needs`` and
``identity`` are re-sealed into ``protection``, in cases and in referrals alike."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import JSON, DateTime, Integer, LargeBinary, Uuid, column, select, table

from contracts.categories import validate_category_data
from kit.db.engine import make_sync_engine
from kit.db.migrate import alembic_config, upgrade_to_head
from services.cases import sealing as case_sealing
from services.referrals import vault as referral_vault

MASTER_KEY = bytes(range(32))

AGENCIES = table("agencies", column("slug"), column("name"), column("created_at", DateTime()))
CASES = table(
    "cases",
    column("id", Uuid()),
    column("agency"),
    column("external_ref"),
    column("data_key_wrapped", LargeBinary()),
    column("profile_sealed", LargeBinary()),
    column("created_by"),
    *(column(name, DateTime()) for name in ("updated_at", "created_at")),
)
CASE_DATA = table(
    "case_data",
    column("case_id", Uuid()),
    column("category"),
    column("sealed", LargeBinary()),
    column("updated_at", DateTime()),
)
REFERRALS = table(
    "referrals",
    column("id", Uuid()),
    *(
        column(name)
        for name in (
            "referral_id",
            "agency",
            "direction",
            "counterpart",
            "purpose",
            "agreement_id",
            "status",
            "drafted_by",
        )
    ),
    column("agreement_version", Integer()),
    column("categories", JSON()),
    column("history", JSON()),
    column("data_key_wrapped", LargeBinary()),
    *(column(name, DateTime()) for name in ("updated_at", "created_at")),
)
REFERRAL_DATA = table(
    "referral_data",
    column("referral_row", Uuid()),
    column("category"),
    column("sealed", LargeBinary()),
)

# What a caseworker entered before the move: the flags and the ethnic origin where every case
# role, and every recipient of specific_needs or identity, could read them.
OLD_SPECIFIC_NEEDS = {
    "child": False,
    "needs_escort": True,
    "trafficking_victim": True,
    "survivor_of_violence": True,
    "mental_health_condition": True,
}
OLD_IDENTITY = {"names": {"given_names": "Mira"}, "nationality": "SRB", "ethnic_origin": "Roma"}
OLD_PROTECTION = {"confidential_account": "Recruited through a cousin in Novi Pazar."}
MOVED = {
    "trafficking_victim": True,
    "survivor_of_violence": True,
    "mental_health_condition": True,
    "ethnic_origin": "Roma",
}


def _at(database_url: str, revision: str, *, master_key: bytes | None = None) -> None:
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(database_url)
            config.attributes["connection"] = connection
            if master_key is not None:
                config.attributes["master_key"] = master_key
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _store_old_shape(database_url: str) -> dict[str, uuid.UUID]:
    now = datetime.now(UTC)
    ids = {name: uuid.uuid4() for name in ("case", "with_protection", "without_protection")}
    case_vault, case_key = case_sealing.new_vault(MASTER_KEY, ids["case"])
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                AGENCIES.insert(),
                [{"slug": s, "name": s, "created_at": now} for s in ("unhcr", "iom")],
            )
            connection.execute(
                CASES.insert(),
                {
                    "id": ids["case"],
                    "agency": "unhcr",
                    "external_ref": "UNHCR-1",
                    "data_key_wrapped": case_key,
                    "profile_sealed": case_vault.seal("profile", {"trafficking_victim": True}),
                    "created_by": "client:unhcr-admin",
                    "updated_at": now,
                    "created_at": now,
                },
            )
            # The case held no protection record yet: the move makes one.
            connection.execute(
                CASE_DATA.insert(),
                [
                    {
                        "case_id": ids["case"],
                        "category": category,
                        "sealed": case_vault.seal(f"data/{category}", value),
                        "updated_at": now,
                    }
                    for category, value in (
                        ("specific_needs", OLD_SPECIFIC_NEEDS),
                        ("identity", OLD_IDENTITY),
                    )
                ],
            )
            for name, carried in (
                ("with_protection", ("specific_needs", "identity", "protection")),
                ("without_protection", ("specific_needs", "identity")),
            ):
                vault, wrapped = referral_vault.new_vault(MASTER_KEY, ids[name])
                connection.execute(
                    REFERRALS.insert(),
                    {
                        "id": ids[name],
                        "referral_id": str(uuid.uuid4()),
                        "agency": "iom",
                        "direction": "incoming",
                        "counterpart": "unhcr",
                        "purpose": "trafficking-risk-assessment",
                        "agreement_id": "agr",
                        "agreement_version": 1,
                        "categories": list(carried),
                        "status": "received",
                        "drafted_by": "peer:unhcr",
                        "history": [],
                        "data_key_wrapped": wrapped,
                        "updated_at": now,
                        "created_at": now,
                    },
                )
                values = {
                    "specific_needs": OLD_SPECIFIC_NEEDS,
                    "identity": OLD_IDENTITY,
                    "protection": OLD_PROTECTION,
                }
                connection.execute(
                    REFERRAL_DATA.insert(),
                    [
                        {
                            "referral_row": ids[name],
                            "category": category,
                            "sealed": vault.seal(f"data/{category}", values[category]),
                        }
                        for category in carried
                    ],
                )
    finally:
        engine.dispose()
    return ids


def _case_data(database_url: str, case_id: uuid.UUID) -> dict[str, Any]:
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            key = connection.execute(
                select(CASES.c.data_key_wrapped).where(CASES.c.id == case_id)
            ).scalar_one()
            rows = connection.execute(
                select(CASE_DATA.c.category, CASE_DATA.c.sealed).where(
                    CASE_DATA.c.case_id == case_id
                )
            ).all()
    finally:
        engine.dispose()
    vault = case_sealing.open_vault(MASTER_KEY, case_id, key)
    return {row.category: vault.open(f"data/{row.category}", row.sealed) for row in rows}


def _referral_data(database_url: str, row_id: uuid.UUID) -> dict[str, Any]:
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            key = connection.execute(
                select(REFERRALS.c.data_key_wrapped).where(REFERRALS.c.id == row_id)
            ).scalar_one()
            rows = connection.execute(
                select(REFERRAL_DATA.c.category, REFERRAL_DATA.c.sealed).where(
                    REFERRAL_DATA.c.referral_row == row_id
                )
            ).all()
    finally:
        engine.dispose()
    vault = referral_vault.open_vault(MASTER_KEY, row_id, key)
    return {row.category: vault.open(f"data/{row.category}", row.sealed) for row in rows}


def _valid_now(data: dict[str, Any]) -> None:
    for category, value in data.items():
        assert validate_category_data(category, value) == value


def test_a_trafficking_victims_flags_move_into_protection_when_the_database_upgrades(
    empty_database_url: str,
) -> None:
    _at(empty_database_url, "0012")
    ids = _store_old_shape(empty_database_url)

    _at(empty_database_url, "0013", master_key=MASTER_KEY)

    case = _case_data(empty_database_url, ids["case"])
    assert case["specific_needs"] == {"child": False, "needs_escort": True}
    assert case["identity"] == {"names": {"given_names": "Mira"}, "nationality": "SRB"}
    assert case["protection"] == MOVED, "the owner keeps every fact, now as protection"
    _valid_now(case)

    carried = _referral_data(empty_database_url, ids["with_protection"])
    assert carried["specific_needs"] == {"child": False, "needs_escort": True}
    assert carried["identity"] == {"names": {"given_names": "Mira"}, "nationality": "SRB"}
    assert carried["protection"] == OLD_PROTECTION | MOVED
    _valid_now(carried)

    # Sent without protection: the facts are dropped, not turned into a protection record
    # that the agreement and the consent never covered for this recipient.
    bare = _referral_data(empty_database_url, ids["without_protection"])
    assert set(bare) == {"specific_needs", "identity"}
    assert bare["specific_needs"] == {"child": False, "needs_escort": True}
    assert "ethnic_origin" not in bare["identity"]
    _valid_now(bare)


def test_re_sealing_without_the_master_key_stops_rather_than_skips(
    empty_database_url: str,
) -> None:
    _at(empty_database_url, "0012")
    _store_old_shape(empty_database_url)
    with pytest.raises(RuntimeError, match="master key"):
        _at(empty_database_url, "0013")


def test_the_migration_is_a_no_op_on_an_empty_database_even_without_the_master_key(
    empty_database_url: str,
) -> None:
    upgrade_to_head(empty_database_url)  # no master key given, and none needed
