"""STEP_CANCELED joins the step events, and a tick records the runs it asked for whose run
key had a run already.

The partial index behind a run's step timeline covers STEP_CANCELED, so a canceled step's
bar ends where the cancel stopped it. ``ticks.existing_runs`` ([run key, run id] pairs) tells
a tick that created a run from one that found its run key taken; the ticks stored before
keep an empty list.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

_BEFORE = sa.text("type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', 'STEP_SKIPPED')")
_AFTER = sa.text("type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', 'STEP_SKIPPED', "
                 "'STEP_CANCELED')")


def _step_index(where: sa.TextClause) -> None:
    op.create_index("ix_events_run_steps", "events", ["run_id", "timestamp"],
                    sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    op.drop_index("ix_events_run_steps", table_name="events")
    _step_index(_AFTER)
    with op.batch_alter_table("ticks") as batch:
        batch.add_column(sa.Column("existing_runs", sa.Text, nullable=False,
                                   server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("ticks") as batch:
        batch.drop_column("existing_runs")
    op.drop_index("ix_events_run_steps", table_name="events")
    _step_index(_BEFORE)
