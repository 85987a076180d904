"""user language and time zone, agency time zone

``users.language``: the console language a person chose (en, fr, es, ar); empty means the
browser's Accept-Language decides. ``users.time_zone``: the IANA time zone the console shows
times in; empty means the agency's. ``agencies.time_zone``: the agency's IANA time zone,
"UTC" for every existing agency until an operator names one.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch_op.create_check_constraint(
            batch_op.f("ck_users_language"), "language IN ('en', 'fr', 'es', 'ar')"
        )
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="UTC")
        )


def downgrade() -> None:
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_users_language"), type_="check")
        batch_op.drop_column("time_zone")
        batch_op.drop_column("language")
