"""STEP_RETRY joins the step events.

The partial index behind a run's step timeline covers STEP_RETRY, so a step that failed an
attempt and will run again shows as retrying, with its attempt count.

Revision ID: 0015
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

_BEFORE = sa.text("type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', 'STEP_SKIPPED', "
                  "'STEP_CANCELED')")
_AFTER = sa.text("type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', 'STEP_SKIPPED', "
                 "'STEP_CANCELED', 'STEP_RETRY')")


def _step_index(where: sa.TextClause) -> None:
    op.create_index("ix_events_run_steps", "events", ["run_id", "timestamp"],
                    sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    op.drop_index("ix_events_run_steps", table_name="events")
    _step_index(_AFTER)


def downgrade() -> None:
    op.drop_index("ix_events_run_steps", table_name="events")
    _step_index(_BEFORE)
