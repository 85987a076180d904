"""event log

``events``: every state change of a referral, consent, erasure, agreement or journey, per
agency, appended in the transaction of the change (DESIGN §10); ids, statuses and codes only.
Indexed by (agency, id) for the feed, which reads one agency's events after a cursor. Starts
empty: changes made before this revision are in the audit log, not replayed here.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency"], ["agencies.slug"], name=op.f("fk_events_agency_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_agency_id", "events", ["agency", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_agency_id", table_name="events")
    op.drop_table("events")
