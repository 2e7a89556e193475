"""The web UI's tables and indexes: sessions, run tags for the runs list's tag filter, indexes
that page the runs list by (created_at, run_id), and partial indexes on materializations and
step events.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_MATERIALIZATIONS = sa.text("type = 'ASSET_MATERIALIZATION'")
_STEP_EVENTS = sa.text("type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', 'STEP_SKIPPED')")


def upgrade() -> None:
    op.drop_index("ix_runs_created_at", table_name="runs")
    op.drop_index("ix_runs_status", table_name="runs")
    op.drop_index("ix_runs_job_name", table_name="runs")
    op.create_index("ix_runs_created_run", "runs", ["created_at", "run_id"])
    op.create_index("ix_runs_status_created_run", "runs", ["status", "created_at", "run_id"])
    op.create_index("ix_runs_job_created_run", "runs", ["job_name", "created_at", "run_id"])
    run_tags = op.create_table(
        "run_tags",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_run_tags_key_value_created_run", "run_tags",
                    ["key", "value", "created_at", "run_id"])
    # the runs stored before this migration keep their tags filterable
    runs = sa.table("runs", sa.column("run_id"), sa.column("tags"), sa.column("created_at"))
    rows = [
        {"run_id": row.run_id, "key": key, "created_at": row.created_at,
         "value": value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))}
        for row in op.get_bind().execute(sa.select(runs).where(runs.c.tags != "{}"))
        for key, value in json.loads(row.tags).items()
    ]
    if rows:
        op.bulk_insert(run_tags, rows)
    op.create_index("ix_events_materializations", "events", ["id"],
                    sqlite_where=_MATERIALIZATIONS, postgresql_where=_MATERIALIZATIONS)
    op.create_index("ix_events_run_steps", "events", ["run_id", "timestamp"],
                    sqlite_where=_STEP_EVENTS, postgresql_where=_STEP_EVENTS)
    op.create_table(
        "ui_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.Integer, nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ui_sessions")
    op.drop_index("ix_events_run_steps", table_name="events")
    op.drop_index("ix_events_materializations", table_name="events")
    op.drop_table("run_tags")
    op.drop_index("ix_runs_job_created_run", table_name="runs")
    op.drop_index("ix_runs_status_created_run", table_name="runs")
    op.drop_index("ix_runs_created_run", table_name="runs")
    op.create_index("ix_runs_job_name", "runs", ["job_name"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
