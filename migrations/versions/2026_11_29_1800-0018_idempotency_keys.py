"""idempotency keys

``idempotency_keys``: the ``Idempotency-Key`` of each API POST (DESIGN §10), one row per
(agency, caller, key): ``pending`` while the first request runs, then ``done`` with the answer
its retries get back. ``claim`` is the holding request's fencing token. Rows expire after 24
hours (``expires_at``, indexed for the periodic purge).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("caller", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claim", sa.Uuid(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'done')", name=op.f("ck_idempotency_keys_state")),
        sa.ForeignKeyConstraint(
            ["agency"], ["agencies.slug"], name=op.f("fk_idempotency_keys_agency_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint(
            "agency", "caller", "key", name=op.f("uq_idempotency_keys_agency_caller_key")
        ),
    )
    op.create_index(
        "ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
