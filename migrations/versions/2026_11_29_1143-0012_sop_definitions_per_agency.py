"""sop definitions per agency

An uploaded SOP definition now belongs to the agency whose admin uploaded it, and
``id@version`` is unique per agency: the primary key becomes (agency, id, version).

Rows already stored were shared by every agency on the node. Each goes to:

* the agency of the account in ``uploaded_by`` (``user:<id>`` or ``client:<client_id>``);
* and every agency with a programme on it, so that no programme (nor a journey on one) loses
  its definition: as if each had uploaded the same definition itself, which gives it a copy;
* and, only when neither names an agency (the account is gone and nothing runs it), every
  hosted agency: the owner is unknown, and keeping what each could see is safer than a guess
  that hides a definition from its owner. An admin who finds it unwanted publishes no
  programme on it.

Downgrading keeps one row per ``id@version`` (the first stored) and deletes the others, since
the old key can hold only one.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 11:43:46.601961
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

definitions = sa.table(
    "sop_definitions",
    sa.column("agency", sa.String()),
    sa.column("id", sa.String()),
    sa.column("version", sa.String()),
    sa.column("title", sa.String()),
    sa.column("source", sa.Text()),
    sa.column("uploaded_by", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("sop_definitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agency", sa.String(length=32), nullable=True))
    copies = _assign_owners()
    with op.batch_alter_table("sop_definitions", schema=None) as batch_op:
        batch_op.alter_column("agency", existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_constraint("pk_sop_definitions", type_="primary")
        batch_op.create_primary_key("pk_sop_definitions", ["agency", "id", "version"])
        batch_op.create_foreign_key(
            batch_op.f("fk_sop_definitions_agency_agencies"), "agencies", ["agency"], ["slug"]
        )
    if copies:
        op.get_bind().execute(definitions.insert(), copies)


def _assign_owners() -> list[dict]:
    """Give each stored row its first owner; return the copies the other owners get."""
    bind = op.get_bind()
    clients = sa.table("api_clients", sa.column("client_id", sa.String()), sa.column("agency"))
    users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("agency", sa.String()))
    programmes = sa.table(
        "programmes",
        sa.column("agency", sa.String()),
        sa.column("sop_id", sa.String()),
        sa.column("sop_version", sa.String()),
    )
    hosted = sorted(bind.scalars(sa.select(sa.table("agencies", sa.column("slug")).c.slug)))
    by_client = dict(bind.execute(sa.select(clients.c.client_id, clients.c.agency)).all())
    by_user = dict(bind.execute(sa.select(users.c.id, users.c.agency)).all())
    running: dict[tuple[str, str], set[str]] = {}
    for agency, sop_id, version in bind.execute(
        sa.select(programmes.c.agency, programmes.c.sop_id, programmes.c.sop_version)
    ).all():
        running.setdefault((sop_id, version), set()).add(agency)
    copies = []
    for row in bind.execute(sa.select(definitions)).mappings().all():
        owners = []
        uploader = _uploader_agency(row["uploaded_by"], by_client, by_user)
        if uploader is not None:
            owners.append(uploader)
        owners += sorted(running.get((row["id"], row["version"]), set()) - set(owners))
        owners = owners or hosted
        if not owners:
            raise RuntimeError(
                f"SOP definition {row['id']}@{row['version']} is stored on a node that hosts "
                "no agency; there is no one to give it to"
            )
        bind.execute(
            definitions.update()
            .where(definitions.c.id == row["id"], definitions.c.version == row["version"])
            .values(agency=owners[0])
        )
        copies += [{**row, "agency": agency} for agency in owners[1:]]
    return copies


def _uploader_agency(
    uploaded_by: str, by_client: dict[str, str], by_user: dict[uuid.UUID, str]
) -> str | None:
    kind, _, subject = uploaded_by.partition(":")
    if kind == "client":
        return by_client.get(subject)
    if kind == "user":
        try:
            return by_user.get(uuid.UUID(subject))
        except ValueError:
            return None
    return None


def downgrade() -> None:
    bind = op.get_bind()
    kept: set[tuple[str, str]] = set()
    rows = bind.execute(
        sa.select(definitions.c.agency, definitions.c.id, definitions.c.version).order_by(
            definitions.c.created_at, definitions.c.agency
        )
    ).all()
    for agency, sop_id, version in rows:
        if (sop_id, version) in kept:
            bind.execute(
                definitions.delete().where(
                    definitions.c.agency == agency,
                    definitions.c.id == sop_id,
                    definitions.c.version == version,
                )
            )
        kept.add((sop_id, version))
    with op.batch_alter_table("sop_definitions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_sop_definitions_agency_agencies"), type_="foreignkey"
        )
        batch_op.drop_constraint("pk_sop_definitions", type_="primary")
        batch_op.create_primary_key("pk_sop_definitions", ["id", "version"])
        batch_op.drop_column("agency")
