"""Alert policies and their outbox of deliveries.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision: str | None = "0018"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alert_policies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("triggers", sa.Text, nullable=False),
        sa.Column("filters", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("long_run_minutes", sa.Float, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("policy_id", sa.Integer, nullable=False),
        sa.Column("policy_name", sa.String(255), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("alert", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float, nullable=True),
    )
    op.create_index("ix_alert_deliveries_dedup", "alert_deliveries",
                    ["policy_id", "dedup_key"], unique=True)
    op.create_index("ix_alert_deliveries_due", "alert_deliveries",
                    ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_due", table_name="alert_deliveries")
    op.drop_index("ix_alert_deliveries_dedup", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_table("alert_policies")
