"""Keys that start with the deployment: alert policy names unique per deployment.

An alert policy's name was unique across every deployment, so creating ``x`` in one was
refused when another had ``x`` (which told it that the name existed there). The name is now
unique within its deployment (``ix_alert_policies_deployment_name``). SQLite keeps the old
UNIQUE inside the table's definition, so the table is rebuilt without it (Alembic's batch
mode: create, copy, drop, rename; the ids are kept); PostgreSQL drops its constraint.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision: str | None = "0020"
branch_labels: str | None = None
depends_on: str | None = None

# PostgreSQL's name for the column's UNIQUE of 0019
_POSTGRESQL_NAME_KEY = "alert_policies_name_key"


def _alert_policies(*, name_unique: bool) -> sa.Table:
    """The table as 0020 left it, with or without the name unique on its own."""
    return sa.Table(
        "alert_policies", sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=name_unique),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("triggers", sa.Text, nullable=False),
        sa.Column("filters", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("long_run_minutes", sa.Float, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("deployment", sa.String(63), nullable=False, server_default="prod"),
    )


def _policies_unique_by_name(unique: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("alert_policies", recreate="always",
                                  copy_from=_alert_policies(name_unique=unique)):
            pass
    elif unique:
        op.create_unique_constraint(_POSTGRESQL_NAME_KEY, "alert_policies", ["name"])
    else:
        op.drop_constraint(_POSTGRESQL_NAME_KEY, "alert_policies", type_="unique")


def upgrade() -> None:
    _policies_unique_by_name(False)
    op.create_index("ix_alert_policies_deployment_name", "alert_policies",
                    ["deployment", "name"], unique=True)


def downgrade() -> None:
    # keeps prod's policies only: the older schema holds one name across deployments
    op.drop_index("ix_alert_policies_deployment_name", table_name="alert_policies")
    op.execute(sa.text("DELETE FROM alert_policies WHERE deployment <> 'prod'"))
    _policies_unique_by_name(True)
