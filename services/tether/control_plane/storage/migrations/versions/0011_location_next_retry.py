"""A code location's next load attempt after a failed load (NULL: none planned).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("code_locations") as batch:
        batch.add_column(sa.Column("next_retry_at", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("code_locations") as batch:
        batch.drop_column("next_retry_at")
