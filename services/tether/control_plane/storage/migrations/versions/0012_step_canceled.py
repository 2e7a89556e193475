"""STEP_CANCELED joins the step events: the partial index behind a run's step timeline covers
it, so a canceled step's bar ends where the cancel stopped it.

Revision ID: 0012
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_BEFORE = sa.text("type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', 'STEP_SKIPPED')")
_AFTER = sa.text("type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', 'STEP_SKIPPED', "
                 "'STEP_CANCELED')")


def _index(where: sa.TextClause) -> None:
    op.create_index("ix_events_run_steps", "events", ["run_id", "timestamp"],
                    sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    op.drop_index("ix_events_run_steps", table_name="events")
    _index(_AFTER)


def downgrade() -> None:
    op.drop_index("ix_events_run_steps", table_name="events")
    _index(_BEFORE)
