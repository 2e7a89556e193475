"""Backfills: runs of many partitions of a job or an asset selection, and the run of each
partition (unique per backfill and partition, so each is created once).

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision: str | None = "0022"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "backfills",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("location", sa.String(255), nullable=False),
        sa.Column("job_name", sa.String(255), nullable=True),
        sa.Column("asset_selection", sa.Text, nullable=True),
        sa.Column("partitions", sa.LargeBinary, nullable=False),
        sa.Column("range_first", sa.String(255), nullable=True),
        sa.Column("range_last", sa.String(255), nullable=True),
        sa.Column("partition_list", sa.Text, nullable=True),
        sa.Column("partition_count", sa.Integer, nullable=False),
        sa.Column("created_count", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("launched_by", sa.String(255), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=True),
    )
    op.create_index("ix_backfills_status", "backfills", ["status"])
    op.create_index("ix_backfills_created", "backfills", ["created_at", "id"])
    op.create_table(
        "backfill_partitions",
        sa.Column("backfill_id", sa.String(64), primary_key=True),
        sa.Column("partition", sa.String(255), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_backfill_partitions_run", "backfill_partitions", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_backfill_partitions_run", table_name="backfill_partitions")
    op.drop_table("backfill_partitions")
    op.drop_index("ix_backfills_created", table_name="backfills")
    op.drop_index("ix_backfills_status", table_name="backfills")
    op.drop_table("backfills")
