"""Check results by asset and check.

The assets page shows each asset's checks (how many passed, which failed) from the latest
result of each; without an index it would scan the newest check results of every asset,
decoding each. ``events.asset_key`` (until now only a materialization's) and the new
``events.check_name`` name a check result's asset and check, filled in from the stored bodies
for the results already there; a partial index on ``(asset_key, check_name, id)`` finds the
newest result of a check with one probe, so the log lines pay nothing for it.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision: str | None = "0023"
branch_labels: str | None = None
depends_on: str | None = None

_CHECK_EVALUATIONS = sa.text("type = 'ASSET_CHECK_EVALUATION'")


def upgrade() -> None:
    import msgspec

    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("check_name", sa.String(128), nullable=True))
    events = sa.table("events", sa.column("id", sa.Integer), sa.column("type", sa.String),
                      sa.column("body", sa.LargeBinary), sa.column("asset_key", sa.String),
                      sa.column("check_name", sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(events.c.id, events.c.body)
                        .where(events.c.type == "ASSET_CHECK_EVALUATION")).all()
    # the body is the msgpack of the wire event: a map with its asset_key and check_name
    found = []
    for row in rows:
        if row.body is None:
            continue
        body = msgspec.msgpack.decode(row.body)
        found.append({"b_id": row.id, "b_key": body.get("asset_key"),
                      "b_check": body.get("check_name")})
    if found:
        conn.execute(events.update().where(events.c.id == sa.bindparam("b_id"))
                     .values(asset_key=sa.bindparam("b_key"),
                             check_name=sa.bindparam("b_check")), found)
    op.create_index("ix_events_asset_checks", "events", ["asset_key", "check_name", "id"],
                    sqlite_where=_CHECK_EVALUATIONS, postgresql_where=_CHECK_EVALUATIONS)


def downgrade() -> None:
    op.drop_index("ix_events_asset_checks", table_name="events")
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE events SET asset_key = NULL "
                         "WHERE type = 'ASSET_CHECK_EVALUATION'"))
    with op.batch_alter_table("events") as batch:
        batch.drop_column("check_name")
