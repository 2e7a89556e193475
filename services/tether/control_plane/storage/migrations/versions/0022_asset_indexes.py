"""Assets' materializations by asset key, step outcomes by step key, snapshot digests.

An asset's page lists its newest materializations, and the assets page colours each asset by
its latest status; without these they scanned the newest materialization events of every
asset, decoding each. ``events.asset_key`` is the key of a materialization event (NULL for
every other event), filled in from the stored bodies for the events already there. Partial
indexes, so the log lines (most events) pay nothing. ``code_locations.snapshot_digest``
lets a reader that decoded a snapshot already skip reading its bytes (7 MB for 10,000
assets) on every page.

Revision ID: 0022
Revises: 0019
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision: str | None = "0019"
branch_labels: str | None = None
depends_on: str | None = None

_MATERIALIZATIONS = sa.text("type = 'ASSET_MATERIALIZATION'")
_STEP_EVENTS = sa.text("type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', "
                       "'STEP_SKIPPED', 'STEP_CANCELED', 'STEP_RETRY')")


def upgrade() -> None:
    import msgspec

    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("asset_key", sa.String(1024), nullable=True))
    events = sa.table("events", sa.column("id", sa.Integer), sa.column("type", sa.String),
                      sa.column("body", sa.LargeBinary), sa.column("asset_key", sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(events.c.id, events.c.body)
                        .where(events.c.type == "ASSET_MATERIALIZATION")).all()
    # the body is the msgpack of the wire event: a map with its asset_key
    keys = [{"b_id": row.id, "b_key": msgspec.msgpack.decode(row.body).get("asset_key")}
            for row in rows if row.body is not None]
    if keys:
        conn.execute(events.update().where(events.c.id == sa.bindparam("b_id"))
                     .values(asset_key=sa.bindparam("b_key")), keys)
    with op.batch_alter_table("code_locations") as batch:
        batch.add_column(sa.Column("snapshot_digest", sa.String(64), nullable=True))
    locations = sa.table("code_locations", sa.column("name", sa.String),
                         sa.column("snapshot", sa.LargeBinary),
                         sa.column("snapshot_digest", sa.String))
    for name, data in conn.execute(sa.select(locations.c.name, locations.c.snapshot)
                                   .where(locations.c.snapshot.is_not(None))).all():
        conn.execute(locations.update().where(locations.c.name == name)
                     .values(snapshot_digest=hashlib.sha256(data).hexdigest()))
    op.create_index("ix_events_asset_materializations", "events", ["asset_key", "id"],
                    sqlite_where=_MATERIALIZATIONS, postgresql_where=_MATERIALIZATIONS)
    op.create_index("ix_events_step_outcomes", "events", ["step_key", "id"],
                    sqlite_where=_STEP_EVENTS, postgresql_where=_STEP_EVENTS)


def downgrade() -> None:
    op.drop_index("ix_events_step_outcomes", table_name="events")
    op.drop_index("ix_events_asset_materializations", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("asset_key")
    with op.batch_alter_table("code_locations") as batch:
        batch.drop_column("snapshot_digest")
