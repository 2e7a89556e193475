"""Keys and lookup indexes that start with the deployment.

An alert policy's name was unique across every deployment, so creating ``x`` in one was
refused when another had ``x`` (which told it that the name existed there). The name is now
unique within its deployment (``ix_alert_policies_deployment_name``). SQLite keeps the old
UNIQUE inside the table's definition, so the table is rebuilt without it (Alembic's batch
mode: create, copy, drop, rename; the ids are kept); PostgreSQL drops its constraint.

The indexes that probe per asset key (materializations, check results), step key (the
assets' latest status), asset partition state and run tag began with that key, so with many
deployments a scoped probe walked every deployment's entries of the same key, filtering
them by deployment. They now lead with the deployment, as the runs list's do since 0020.

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


# the partial indexes' conditions, in the words the queries use (storage/_schema.py)
_MATERIALIZATIONS = "type = 'ASSET_MATERIALIZATION'"
_CHECK_EVALUATIONS = "type = 'ASSET_CHECK_EVALUATION'"
_STEP_EVENTS = ("type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', 'STEP_SKIPPED', "
                "'STEP_CANCELED', 'STEP_RETRY')")

# the lookup indexes that probe per asset, check, step or tag, which now lead with the
# deployment: (table, index) -> (columns after it, partial index condition or None)
_LED_BY_DEPLOYMENT: dict[tuple[str, str], tuple[list[str], str | None]] = {
    ("events", "ix_events_asset_materializations"): (["asset_key", "id"], _MATERIALIZATIONS),
    ("events", "ix_events_asset_checks"): (["asset_key", "check_name", "id"],
                                           _CHECK_EVALUATIONS),
    ("events", "ix_events_step_outcomes"): (["step_key", "id"], _STEP_EVENTS),
    ("asset_partitions", "ix_asset_partitions_state"): (["asset_key", "status", "partition"],
                                                        None),
    ("run_tags", "ix_run_tags_key_value_created_run"): (
        ["key", "value", "created_at", "run_id"], None),
}


def _reindex(*, led_by_deployment: bool) -> None:
    for (table, index), (columns, where) in _LED_BY_DEPLOYMENT.items():
        condition = None if where is None else sa.text(where)
        op.drop_index(index, table_name=table)
        op.create_index(index, table, ["deployment", *columns] if led_by_deployment
                        else columns, sqlite_where=condition, postgresql_where=condition)


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
    _reindex(led_by_deployment=True)


def downgrade() -> None:
    _reindex(led_by_deployment=False)
    # keeps prod's policies only: the older schema holds one name across deployments
    op.drop_index("ix_alert_policies_deployment_name", table_name="alert_policies")
    op.execute(sa.text("DELETE FROM alert_policies WHERE deployment <> 'prod'"))
    _policies_unique_by_name(True)
