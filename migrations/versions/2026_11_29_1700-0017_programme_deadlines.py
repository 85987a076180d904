"""programme deadlines

``programmes.deadlines``: stage id -> ISO 8601 duration, the time frames of the readmission
agreement the programme runs under (issue 16); a stage not named keeps the SOP's ``due``.
Existing programmes get none.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deadlines", sa.JSON(), nullable=True))
    op.execute("UPDATE programmes SET deadlines = '{}'")
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.alter_column("deadlines", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.drop_column("deadlines")
