"""The run queue and the daemons: a run keeps its launch's trace for a later admission, work
items are found by run, recent failures by status and end, and each daemon's leader holds a
lease.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(128), nullable=True))
    op.create_index("ix_runs_status_end_time", "runs", ["status", "end_time"])
    op.create_index("ix_work_items_run_id", "work_items", ["run_id"])
    op.create_table(
        "daemon_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("daemon_leases")
    op.drop_index("ix_work_items_run_id", table_name="work_items")
    op.drop_index("ix_runs_status_end_time", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("traceparent")
