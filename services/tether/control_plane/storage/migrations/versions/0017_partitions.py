"""Partitions: a run's partition (a column, filtered by the runs list), the keys of dynamic
partitions definitions, and each asset partition's status (a projection of the event log).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("partition", sa.String(255), nullable=True))
    op.create_index("ix_runs_partition_created_run", "runs",
                    ["partition", "created_at", "run_id"])
    op.create_table(
        "dynamic_partitions",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("partition", sa.String(255), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "asset_partitions",
        sa.Column("asset_key", sa.String(255), primary_key=True),
        sa.Column("partition", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_run_id", sa.String(64), nullable=True),
        sa.Column("materialized_run_id", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_asset_partitions_last_run", "asset_partitions", ["last_run_id"])
    op.create_index("ix_asset_partitions_state", "asset_partitions",
                    ["asset_key", "status", "partition"])


def downgrade() -> None:
    op.drop_index("ix_asset_partitions_state", table_name="asset_partitions")
    op.drop_index("ix_asset_partitions_last_run", table_name="asset_partitions")
    op.drop_table("asset_partitions")
    op.drop_table("dynamic_partitions")
    op.drop_index("ix_runs_partition_created_run", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("partition")
