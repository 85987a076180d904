"""referral listing by direction

``GET /v1/referrals?direction=incoming`` (an agency's inbox, and ``outgoing`` its outbox)
pages newest first by ``id`` within one agency and one direction. ``(agency, id)`` reads the
agency's rows in order and drops those of the other direction one by one: an agency with
300,000 newer outgoing rows read all of them (91 ms on PostgreSQL) to find the first page of
its 10,000 incoming ones. ``(agency, direction, id)`` reads exactly the page (0.09 ms), at
any size and any mix (issue 19).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-29 19:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_referrals_agency_direction_id", "referrals", ["agency", "direction", "id"])


def downgrade() -> None:
    op.drop_index("ix_referrals_agency_direction_id", table_name="referrals")
