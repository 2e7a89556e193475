"""Code locations count their deploys: a result names the deploy (generation) it answers,
so a late answer about an older deploy never overwrites the status of a newer one.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("code_locations") as batch:
        batch.add_column(
            sa.Column("generation", sa.BigInteger, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("code_locations") as batch:
        batch.drop_column("generation")
