"""Op concurrency pools per step: the steps waiting for, or holding, a slot of a pool.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision: str | None = "0017"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "pool_slots",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("step_key", sa.String(255), primary_key=True),
        sa.Column("pool", sa.String(255), nullable=False),
        sa.Column("requested_at", sa.Float, nullable=False),
        sa.Column("granted_at", sa.Float, nullable=True),
    )
    op.create_index("ix_pool_slots_pool", "pool_slots", ["pool", "granted_at", "requested_at"])


def downgrade() -> None:
    op.drop_index("ix_pool_slots_pool", table_name="pool_slots")
    op.drop_table("pool_slots")
