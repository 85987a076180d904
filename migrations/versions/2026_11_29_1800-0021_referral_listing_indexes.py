"""referral listing indexes

``GET /v1/referrals`` pages newest first by ``id`` (UUIDv7, time-ordered) within one agency,
often filtered by status. With only single-column indexes a page sorts every row of the agency;
``(agency, id)`` and ``(agency, status, id)`` let it read one page in index order, so a page
costs the same at 10^6 referrals as at 10^4 (issue 19).

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29 18:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_referrals_agency_id", "referrals", ["agency", "id"])
    op.create_index("ix_referrals_agency_status_id", "referrals", ["agency", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_referrals_agency_status_id", table_name="referrals")
    op.drop_index("ix_referrals_agency_id", table_name="referrals")
