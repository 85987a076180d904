"""protection-sensitive fields move into protection; biometrics is a category

DESIGN §9: trafficking victim, survivor of violence, mental health and ethnic origin are
protection-sensitive facts. They were fields of ``specific_needs`` (``trafficking_victim``,
``survivor_of_violence``, ``mental_health_condition``) and ``identity`` (``ethnic_origin``),
which every case role and every recipient of those categories reads; they are now fields of
``protection``, under the same names, read only by the protection roles.

Stored data is sealed (AES-256-GCM under a per-case or per-referral data key, itself wrapped by
the node master key), so the move opens each affected value and seals it again:

* a case (``case_data``): the facts move into the case's ``protection`` record, which is made
  if the case had none. The owning agency keeps every fact; fewer of its people read them.
* a referral's content (``referral_data``, received categories and results sealed back alike):
  the facts move into the referral's ``protection`` content when it carries one. When it does
  not, they are **dropped** from that copy: adding a ``protection`` record the agreement and
  the consent never covered for this recipient would widen who can read them, and the owning
  agency still holds them in its case and can send ``protection`` under terms that cover it.
* an erased referral (no data key) holds nothing to move.

``case_data.category`` also admits ``biometrics`` now.

The master key comes from ``config.attributes["master_key"]`` (``kit.db.migrate``). Without it
the upgrade stops, unless nothing needs re-sealing (an empty database). This migration carries
its own copy of the sealing layout (``contracts.at_rest``, ``services.cases.sealing``,
``services.referrals.vault``) so that later changes to those modules cannot change what it does.

Downgrading moves the facts back out of ``protection`` the same way (into ``specific_needs``
and ``identity`` where the owner or referral holds them, dropping them otherwise) and refuses
while any ``biometrics`` record is stored.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 15:00:00
"""

import json
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVED: dict[str, tuple[str, ...]] = {
    "specific_needs": ("trafficking_victim", "survivor_of_violence", "mental_health_condition"),
    "identity": ("ethnic_origin",),
}
SOURCES = tuple(MOVED)
OLD_CATEGORIES = (
    "identity",
    "contact",
    "documents",
    "asylum_history",
    "family",
    "specific_needs",
    "health",
    "protection",
    "skills",
    "return_plan",
    "reintegration",
    "monitoring",
)
NEW_CATEGORIES = (*OLD_CATEGORIES, "biometrics")

cases = sa.table(
    "cases",
    sa.column("id", sa.Uuid()),
    sa.column("data_key_wrapped", sa.LargeBinary()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
case_data = sa.table(
    "case_data",
    sa.column("case_id", sa.Uuid()),
    sa.column("category", sa.String()),
    sa.column("sealed", sa.LargeBinary()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
referrals = sa.table(
    "referrals",
    sa.column("id", sa.Uuid()),
    sa.column("data_key_wrapped", sa.LargeBinary()),
)
referral_data = sa.table(
    "referral_data",
    sa.column("referral_row", sa.Uuid()),
    sa.column("category", sa.String()),
    sa.column("sealed", sa.LargeBinary()),
)

# --- the sealing layout as of this revision ---------------------------------------------------

_NONCE = 12


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class _Vault:
    """One case's or referral's data key, with the associated data of its slots."""

    def __init__(self, master_key: bytes, wrapped: bytes, *, owner: str, row_id: uuid.UUID):
        self.key = _open(master_key, wrapped, f"accord/{owner}-key/{row_id}".encode())
        self.prefix = f"accord/{owner}/{row_id}/data/"

    def open(self, category: str, sealed: bytes) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(
            _open(self.key, sealed, (self.prefix + category).encode())
        )
        return value

    def seal(self, category: str, value: dict[str, Any]) -> bytes:
        return _seal(self.key, _json(value), (self.prefix + category).encode())


def _master_key() -> bytes:
    key = context.config.attributes.get("master_key")
    if key is None:
        raise RuntimeError(
            "migration 0013 re-seals stored case and referral data and needs the node master "
            "key: run it through `accord init` (or `accord serve --migrate`), which loads it"
        )
    return bytes(key)


# --- the move -------------------------------------------------------------------------------


def _move(
    records: dict[str, dict[str, Any]], *, to_protection: bool, create: bool
) -> dict[str, dict[str, Any]]:
    """The changed records of one case or referral (category -> new value).

    ``to_protection``: upgrade (sources -> protection) or downgrade (protection -> sources).
    ``create``: the destination may be made when absent (the owner's case), else facts with no
    destination are dropped (a referral's copy).
    """
    changed: dict[str, dict[str, Any]] = {}
    if to_protection:
        found: dict[str, Any] = {}
        for source, fields in MOVED.items():
            record = records.get(source)
            if record is None or not any(f in record for f in fields):
                continue
            found.update({f: record[f] for f in fields if f in record})
            changed[source] = {k: v for k, v in record.items() if k not in fields}
        if found and ("protection" in records or create):
            changed["protection"] = {**records.get("protection", {}), **found}
        return changed
    protection = records.get("protection")
    if protection is None:
        return changed
    moved_any = False
    for source, fields in MOVED.items():
        facts = {f: protection[f] for f in fields if f in protection}
        if not facts:
            continue
        moved_any = True
        if source in records or create:
            changed[source] = {**records.get(source, {}), **facts}
    if moved_any:
        every = {f for fields in MOVED.values() for f in fields}
        changed["protection"] = {k: v for k, v in protection.items() if k not in every}
    return changed


def _rows_to_visit(
    connection: sa.Connection, data: Any, owner_column: Any, categories: Sequence[str]
) -> list[Any]:
    return list(
        connection.execute(
            sa.select(owner_column).where(data.c.category.in_(categories)).distinct()
        ).scalars()
    )


def _resealed(
    connection: sa.Connection,
    *,
    owners: list[Any],
    key_of: Callable[[Any], bytes | None],
    owner: str,
    data: Any,
    owner_column: Any,
    to_protection: bool,
    create: bool,
) -> None:
    master_key: bytes | None = None
    for row_id in owners:
        wrapped = key_of(row_id)
        if wrapped is None:
            continue  # erased: its content is unreadable and is deleted with its key
        master_key = master_key or _master_key()
        vault = _Vault(master_key, wrapped, owner=owner, row_id=row_id)
        rows = connection.execute(
            sa.select(data.c.category, data.c.sealed).where(owner_column == row_id)
        ).all()
        records = {row.category: vault.open(row.category, row.sealed) for row in rows}
        for category, value in _move(records, to_protection=to_protection, create=create).items():
            sealed = vault.seal(category, value)
            where = sa.and_(owner_column == row_id, data.c.category == category)
            if category in records:
                connection.execute(data.update().where(where).values(sealed=sealed))
            else:
                values: dict[str, Any] = {"category": category, "sealed": sealed}
                values[owner_column.name] = row_id
                if "updated_at" in data.c:
                    values["updated_at"] = sa.func.current_timestamp()
                connection.execute(data.insert().values(**values))


def _run(*, to_protection: bool) -> None:
    connection = op.get_bind()
    wanted = SOURCES if to_protection else ("protection",)
    _resealed(
        connection,
        owners=_rows_to_visit(connection, case_data, case_data.c.case_id, wanted),
        key_of=lambda case_id: connection.execute(
            sa.select(cases.c.data_key_wrapped).where(cases.c.id == case_id)
        ).scalar_one_or_none(),
        owner="case",
        data=case_data,
        owner_column=case_data.c.case_id,
        to_protection=to_protection,
        create=True,
    )
    _resealed(
        connection,
        owners=_rows_to_visit(connection, referral_data, referral_data.c.referral_row, wanted),
        key_of=lambda row_id: connection.execute(
            sa.select(referrals.c.data_key_wrapped).where(referrals.c.id == row_id)
        ).scalar_one_or_none(),
        owner="referral",
        data=referral_data,
        owner_column=referral_data.c.referral_row,
        to_protection=to_protection,
        create=False,
    )


def _category_check(names: Sequence[str]) -> None:
    with op.batch_alter_table("case_data", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_case_data_category"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_case_data_category"),
            "category IN (" + ", ".join(f"'{n}'" for n in names) + ")",
        )


def upgrade() -> None:
    _category_check(NEW_CATEGORIES)
    _run(to_protection=True)


def downgrade() -> None:
    connection = op.get_bind()
    for data in (case_data, referral_data):
        held = connection.execute(
            sa.select(sa.func.count()).select_from(data).where(data.c.category == "biometrics")
        ).scalar_one()
        if held:
            raise RuntimeError(
                f"{data.name} holds biometrics records, which revision 0012 cannot hold; "
                "erase them before downgrading"
            )
    _run(to_protection=False)
    _category_check(OLD_CATEGORIES)
