"""Drop the events' index on run_id alone: the unique (run_id, attempt, seq) index starts with
run_id and serves the same lookups, and every stored event paid for maintaining both.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.drop_index("ix_events_run_id", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_run_id", "events", ["run_id"])
