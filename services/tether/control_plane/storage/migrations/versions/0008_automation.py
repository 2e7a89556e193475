"""Schedules and sensors: their state, their tick history, and the origin and run key of the
runs they create (one run per key).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("origin", sa.String(255), nullable=True))
        batch.add_column(sa.Column("run_key", sa.String(255), nullable=True))
    op.create_index("ix_runs_origin_run_key", "runs", ["origin", "run_key"], unique=True)
    op.create_table(
        "automation_states",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("location", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("running", sa.Boolean, nullable=True),
        sa.Column("cursor", sa.Text, nullable=True),
        sa.Column("last_tick_time", sa.Float, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ticks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("location", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("scheduled_time", sa.Float, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_ids", sa.Text, nullable=False),
        sa.Column("skip_reason", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=True),
    )
    op.create_index("ix_ticks_due", "ticks", ["kind", "location", "name", "scheduled_time"],
                    unique=True)
    op.create_index("ix_ticks_status", "ticks", ["status"])


def downgrade() -> None:
    op.drop_index("ix_ticks_status", table_name="ticks")
    op.drop_index("ix_ticks_due", table_name="ticks")
    op.drop_table("ticks")
    op.drop_table("automation_states")
    op.drop_index("ix_runs_origin_run_key", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("run_key")
        batch.drop_column("origin")
