"""government country and the authority picked per nationality

``agencies.country``: the state a hosted government acts for (ISO 3166-1 alpha-3), printed in
its directory entry by ``accord init`` and ``accord keys export`` (DESIGN §4). Existing rows
get none: an operator names it with ``accord init --agency SLUG=NAME --country SLUG=ISO3``.

``journeys.acting_agency``: the authority picked for the current stage where the programme
binds its role per nationality (DESIGN §7); empty for every existing journey, whose
programmes bind single agencies.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("country", sa.String(length=3), nullable=True))
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acting_agency", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.drop_column("acting_agency")
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.drop_column("country")
