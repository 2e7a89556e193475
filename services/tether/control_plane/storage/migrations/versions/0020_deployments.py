"""Deployments: every per-deployment row names its deployment; what exists becomes ``prod``.

A ``deployments`` table (``prod`` created here), a ``deployment`` column on the tables
:mod:`tether.control_plane.storage._schema` lists, with ``prod`` as its default so every row
already there is prod's; agent tokens serve ``prod``; ``token_roles`` holds a user token's
role per deployment. Tables whose primary key grows a leading ``deployment`` are rebuilt
(create, copy, drop, rename): SQLite cannot change a primary key in place, and one way for
both databases keeps the migration short. Unique indexes that scoped a name now scope it
within a deployment.

Revision ID: 0020
Revises: 0024
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision: str | None = "0024"
branch_labels: str | None = None
depends_on: str | None = None

PROD = "prod"


def _deployment(*, primary_key: bool = False) -> sa.Column[Any]:
    return sa.Column("deployment", sa.String(63), nullable=False, primary_key=primary_key,
                     server_default=PROD)


# the tables whose primary key starts with the deployment now: their columns (as of 0022,
# plus the deployment) and their indexes
_REKEYED: dict[str, tuple[list[sa.Column[Any]], list[tuple[str, list[str], bool]]]] = {
    "code_locations": ([
        _deployment(primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("spec", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("snapshot", sa.LargeBinary, nullable=True),
        sa.Column("snapshot_digest", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("next_retry_at", sa.Float, nullable=True),
    ], []),
    "agents": ([
        _deployment(primary_key=True),
        sa.Column("agent_id", sa.String(255), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("queues", sa.Text, nullable=False),
        sa.Column("last_heartbeat", sa.Float, nullable=False),
        sa.Column("heartbeat", sa.LargeBinary, nullable=False),
    ], []),
    "automation_states": ([
        _deployment(primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("location", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("running", sa.Boolean, nullable=True),
        sa.Column("cursor", sa.Text, nullable=True),
        sa.Column("last_tick_time", sa.Float, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    ], []),
    "dynamic_partitions": ([
        _deployment(primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("partition", sa.String(255), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    ], []),
    "asset_partitions": ([
        _deployment(primary_key=True),
        sa.Column("asset_key", sa.String(255), primary_key=True),
        sa.Column("partition", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_run_id", sa.String(64), nullable=True),
        sa.Column("materialized_run_id", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    ], [("ix_asset_partitions_last_run", ["last_run_id"], False),
        ("ix_asset_partitions_state", ["asset_key", "status", "partition"], False)]),
}

# tables that only gain the column
_WIDENED = ("runs", "run_tags", "events", "compute_logs", "work_items", "pool_slots", "ticks",
            "alert_policies", "alert_deliveries", "backfills")

# unique and lookup indexes that now start with the deployment: (old columns, new columns)
_REINDEXED: dict[tuple[str, str], tuple[list[str], list[str], bool]] = {
    # the runs list's pages, within one deployment
    **{("runs", f"ix_runs_{name}created_run"): (
        [*columns, "created_at", "run_id"], ["deployment", *columns, "created_at", "run_id"],
        False) for name, columns in (("", []), ("status_", ["status"]),
                                     ("job_", ["job_name"]),
                                     ("partition_", ["partition"]))},
    ("runs", "ix_runs_origin_run_key"): (
        ["origin", "run_key"], ["deployment", "origin", "run_key"], True),
    ("work_items", "ix_work_items_claim"): (
        ["status", "queue", "created_at"], ["deployment", "status", "queue", "created_at"],
        False),
    # the backfills list, within one deployment
    ("backfills", "ix_backfills_created"): (
        ["created_at", "id"], ["deployment", "created_at", "id"], False),
    ("ticks", "ix_ticks_due"): (
        ["kind", "location", "name", "scheduled_time"],
        ["deployment", "kind", "location", "name", "scheduled_time"], True),
}


def upgrade() -> None:
    deployments = op.create_table(
        "deployments",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("branch", sa.String(255), nullable=True),
        sa.Column("commit", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_activity_at", sa.Float, nullable=False),
        sa.Column("ttl_seconds", sa.Float, nullable=True),
    )
    now = time.time()
    op.bulk_insert(deployments, [{"name": PROD, "kind": "prod", "created_at": now,
                                  "last_activity_at": now}])
    for name in _WIDENED:
        with op.batch_alter_table(name) as batch:
            batch.add_column(_deployment())
    for (table, index), (_, new_columns, unique) in _REINDEXED.items():
        op.drop_index(index, table_name=table)
        op.create_index(index, table, new_columns, unique=unique)
    for table, (keyed, indexes) in _REKEYED.items():
        _rebuild(table, keyed, indexes, keep=[c.name for c in keyed[1:]])
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("deployment", sa.String(63), nullable=True))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("deployment", sa.String(63), nullable=True))
    op.execute(sa.text("UPDATE tokens SET deployment = 'prod' WHERE kind = 'agent'"))
    op.execute(sa.text("UPDATE audit_log SET deployment = 'prod'"))
    op.create_table(
        "token_roles",
        sa.Column("token_id", sa.Integer, primary_key=True),
        sa.Column("deployment", sa.String(63), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    # keeps prod's rows only: the older schema holds one deployment
    op.drop_table("token_roles")
    for table in ("tokens", "audit_log"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("deployment")
    for table, (keyed, indexes) in _REKEYED.items():
        op.execute(sa.text(f"DELETE FROM {table} WHERE deployment <> 'prod'"))
        old = [sa.Column(c.name, c.type, nullable=c.nullable, primary_key=c.primary_key,
                         server_default=c.server_default) for c in keyed[1:]]
        _rebuild(table, old, indexes, keep=[c.name for c in old])
    for table, index in _REINDEXED:
        op.drop_index(index, table_name=table)
    for name in _WIDENED:
        op.execute(sa.text(f"DELETE FROM {name} WHERE deployment <> 'prod'"))
        with op.batch_alter_table(name) as batch:
            batch.drop_column("deployment")
    for (table, index), (old_columns, _, unique) in _REINDEXED.items():
        op.create_index(index, table, old_columns, unique=unique)
    op.drop_table("deployments")


def _rebuild(table: str, columns: list[sa.Column[Any]],
             indexes: list[tuple[str, list[str], bool]], *, keep: list[str]) -> None:
    """Replace ``table`` by one with ``columns`` (a new primary key), keeping the rows'
    ``keep`` columns; the others take their defaults."""
    new = f"_new_{table}"
    op.create_table(new, *[sa.Column(c.name, c.type, nullable=c.nullable,
                                     primary_key=c.primary_key, server_default=c.server_default)
                           for c in columns])
    listed = ", ".join(f'"{name}"' for name in keep)
    op.execute(sa.text(f"INSERT INTO {new} ({listed}) SELECT {listed} FROM {table}"))
    for index, _, _ in indexes:
        op.drop_index(index, table_name=table)
    op.drop_table(table)
    op.rename_table(new, table)
    for index, index_columns, unique in indexes:
        op.create_index(index, table, index_columns, unique=unique)
