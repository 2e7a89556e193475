"""Batch inserts that skip the rows already stored (idempotent writes), one statement a batch.

PostgreSQL gets the whole batch as one JSON document, encoded by msgspec in C, which the server
turns back into rows with ``jsonb_to_recordset`` (faster than the ``json`` variant). A
multi-row ``VALUES`` list has a placeholder per value (4,500 for 500 events) that psycopg
parses and adapts one by one in Python, holding the GIL: that was over half of the control
plane's CPU time when ingesting events. Arrays per column (``unnest``) are little better, as
psycopg writes those element by element in Python too. SQLite binds a ``VALUES`` list
natively, so it keeps that form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

_encode_json = msgspec.json.Encoder().encode


def insert_new(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    unique: list[str],
    returning: Sequence[sa.Column[Any]],
) -> Sequence[Row[Any]]:
    """Insert ``rows`` (dicts with the same keys) except those that collide on the ``unique``
    columns with a row already stored; returns the ``returning`` columns of the new rows."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        values = sqlite.insert(table).on_conflict_do_nothing(index_elements=unique)
        return conn.execute(values.returning(*returning), list(rows)).all()
    names = list(rows[0])
    binary = {name for name in names if isinstance(table.c[name].type, sa.LargeBinary)}
    document = sa.cast(sa.bindparam("rows", _encode_json(rows).decode(), type_=sa.Text()),
                       postgresql.JSONB)
    # the record's columns have the table's types, so a value that does not fit is refused as
    # by a plain INSERT (a cast to VARCHAR(n) would silently cut an over-long string short)
    recordset = sa.func.jsonb_to_recordset(document).table_valued(*(
        sa.column(name, sa.Text() if name in binary else table.c[name].type) for name in names
    )).render_derived(with_types=True)
    # msgspec writes bytes as base64 strings
    selected = [sa.func.decode(recordset.c[name], "base64") if name in binary
                else recordset.c[name] for name in names]
    statement = (
        postgresql.insert(table)
        .from_select(names, sa.select(*selected))
        .on_conflict_do_nothing(index_elements=unique)
        .returning(*returning)
    )
    return conn.execute(statement).all()
