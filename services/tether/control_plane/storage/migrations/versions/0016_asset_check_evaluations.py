"""Partial indexes on asset check evaluations.

The asset page's checks (each check's latest result and its history) read the newest
ASSET_CHECK_EVALUATION events, and the run page a run's; the indexes hold only those events,
so the log lines pay nothing for them.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None

_CHECK_EVALUATIONS = sa.text("type = 'ASSET_CHECK_EVALUATION'")


def upgrade() -> None:
    op.create_index("ix_events_check_evaluations", "events", ["id"],
                    sqlite_where=_CHECK_EVALUATIONS, postgresql_where=_CHECK_EVALUATIONS)
    op.create_index("ix_events_run_checks", "events", ["run_id", "id"],
                    sqlite_where=_CHECK_EVALUATIONS, postgresql_where=_CHECK_EVALUATIONS)


def downgrade() -> None:
    op.drop_index("ix_events_run_checks", table_name="events")
    op.drop_index("ix_events_check_evaluations", table_name="events")
