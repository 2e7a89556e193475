"""Agents and their last heartbeat.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.String(255), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("queues", sa.Text, nullable=False),
        sa.Column("last_heartbeat", sa.Float, nullable=False),
        sa.Column("heartbeat", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agents")
