"""Read queries behind the assets' pages: an asset's materializations, newest first, and each
asset's latest status (materialized, its last attempt failed, in progress, never materialized).

Materializations are found by their ``asset_key`` column, the outcomes of the step that
materializes an asset by its step key (the key's parts joined by ``__``, as the SDK names
that step in every asset job); each through a partial index on ``(key, id)``, so the pages
read a few index entries per asset however long the event log is.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from tether.wire import AssetMaterialization

from . import _codec
from ._projection import TERMINAL_STATUSES, RunStatus
from ._records import Materialization
from ._schema import CHECK_EVALUATIONS, MATERIALIZATIONS, STEP_EVENTS, events, runs

# bound values per IN list: well inside SQLite's limit on a statement's variables
_CHUNK = 500


class AssetStatus(StrEnum):
    MATERIALIZED = "MATERIALIZED"
    # its latest attempt failed (or was canceled, or its run ended before the step did)
    FAILED = "FAILED"
    # its step (or its multi-asset's) has started in a run that has not ended
    IN_PROGRESS = "IN_PROGRESS"
    NEVER = "NEVER"


@dataclass(frozen=True, slots=True)
class AssetState:
    status: AssetStatus
    latest: Materialization | None
    # the run of the latest attempt to materialize it (None: never attempted)
    run_id: str | None


def asset_step(asset_key: str) -> str:
    """The step that materializes the asset in any asset job."""
    return asset_key.replace("/", "__")


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start:start + _CHUNK])


def _materialization(row: Any) -> Materialization | None:
    event = _codec.event_decoder.decode(row.body)
    if not isinstance(event, AssetMaterialization):
        return None
    return Materialization(asset_key=event.asset_key, run_id=row.run_id,
                           timestamp=row.timestamp, metadata=dict(event.metadata))


def materializations(conn: Connection, asset_key: str, *, limit: int = 20
                     ) -> list[Materialization]:
    """The newest ``limit`` materializations of ``asset_key``, newest first."""
    rows = conn.execute(
        sa.select(events.c.run_id, events.c.timestamp, events.c.body)
        # the partial index's own condition, as a literal
        .where(sa.text(MATERIALIZATIONS), events.c.asset_key == asset_key)
        .order_by(events.c.id.desc()).limit(limit))
    return [made for made in map(_materialization, rows) if made is not None]


def _latest_materializations(conn: Connection, asset_keys: Sequence[str]
                             ) -> dict[str, tuple[int, Materialization]]:
    """The newest materialization of each of ``asset_keys`` with its event id."""
    ids = _newest(conn, events.c.asset_key, sorted(set(asset_keys)), sa.text(MATERIALIZATIONS))
    found: dict[str, tuple[int, Materialization]] = {}
    for row in _rows_by_id(conn, ids, events.c.run_id, events.c.timestamp, events.c.body):
        made = _materialization(row)
        if made is not None:
            found[made.asset_key] = (row.id, made)
    return found


def _newest(conn: Connection, column: Any, values: Sequence[str], *where: Any) -> list[int]:
    """The id of the newest event matching ``where`` for each of ``values`` of ``column``
    that has one: one index probe from the top of each value's range (a GROUP BY would read
    all of a value's entries: 50,000 for an asset materialized 50,000 times)."""
    if not values:
        return []
    # the values as one JSON array bound once, a table on either database
    array = sa.bindparam("values", _codec.encode_json(list(values)).decode(), type_=sa.Text())
    wanted = (sa.func.json_each(array) if conn.dialect.name == "sqlite" else
              sa.func.jsonb_array_elements_text(sa.cast(array, postgresql.JSONB))
              ).table_valued("value").alias("wanted")
    newest = (sa.select(events.c.id).where(*where, column == wanted.c.value)
              .order_by(events.c.id.desc()).limit(1).scalar_subquery())
    return [id_ for id_ in conn.execute(sa.select(newest).select_from(wanted)).scalars()
            if id_ is not None]


def newest_checks(conn: Connection, checks: Sequence[tuple[str, str]]) -> Iterator[Any]:
    """The ``asset_key``, ``check_name`` and ``body`` of the newest ASSET_CHECK_EVALUATION
    event of each ``(asset_key, check_name)`` of ``checks`` that has one, in one statement:
    one index probe per check (as :func:`_newest` probes per key), joined to its row."""
    if not checks:
        return iter(())
    values = _codec.encode_json([list(check) for check in checks]).decode()
    return iter(conn.execute(_newest_checks_query(conn.dialect.name), {"checks": values}))


@functools.cache
def _newest_checks_query(dialect: str) -> sa.Select[Any]:
    # built once per database: the assets page asks for it on every request
    array = sa.bindparam("checks", type_=sa.Text())
    if dialect == "sqlite":
        wanted = sa.func.json_each(array).table_valued("value").alias("wanted")
        asset_key = sa.func.json_extract(wanted.c.value, "$[0]")
        check_name = sa.func.json_extract(wanted.c.value, "$[1]")
    else:
        wanted = sa.func.jsonb_array_elements(sa.cast(array, postgresql.JSONB)
                                              ).table_valued("value").alias("wanted")
        asset_key = sa.func.jsonb_extract_path_text(wanted.c.value, "0")
        check_name = sa.func.jsonb_extract_path_text(wanted.c.value, "1")
    probed = events.alias("probed")
    # the partial index's own condition, as a literal
    probe = (sa.text(f"probed.{CHECK_EVALUATIONS}"), probed.c.asset_key == asset_key,
             probed.c.check_name == check_name)
    if dialect != "sqlite":
        # PostgreSQL hash-joins ``events.id = (newest id)`` by walking every event of the
        # deployment; a LATERAL probe reads the newest row of each check and nothing else
        newest = (sa.select(probed.c.asset_key, probed.c.check_name, probed.c.body)
                  .where(*probe).order_by(probed.c.id.desc()).limit(1).lateral("newest"))
        return (sa.select(newest.c.asset_key, newest.c.check_name, newest.c.body)
                .select_from(wanted).join(newest, sa.true()))
    newest_id = (sa.select(probed.c.id).where(*probe)
                 .order_by(probed.c.id.desc()).limit(1).scalar_subquery())
    return (sa.select(events.c.asset_key, events.c.check_name, events.c.body)
            .select_from(wanted).join(events, events.c.id == newest_id))


def _rows_by_id(conn: Connection, ids: Sequence[int], *columns: Any) -> Iterator[Any]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        yield from conn.execute(sa.select(events.c.id, *columns)
                                .where(events.c.id.in_(ordered[start:start + _CHUNK])))


def latest_materializations(conn: Connection, asset_keys: Sequence[str]
                            ) -> dict[str, Materialization]:
    """The newest materialization of each of ``asset_keys`` that has one."""
    return {key: made for key, (_, made) in _latest_materializations(conn, asset_keys).items()}


def asset_states(conn: Connection, steps_of: Mapping[str, Iterable[str]]
                 ) -> dict[str, AssetState]:
    """The latest status of each asset in ``steps_of``, which maps its key to the steps
    whose outcome is its own: the step that materializes it and, for an asset of a
    multi-asset, the multi-asset's step (a failure there is the asset's failure too)."""
    latest = _latest_materializations(conn, list(steps_of))
    step_keys = sorted({step for key, steps in steps_of.items()
                        for step in (asset_step(key), *steps)})
    # a skipped step was not attempted: its upstream failed, which shows there
    ids = _newest(conn, events.c.step_key, step_keys, sa.text(STEP_EVENTS),
                  events.c.type != "STEP_SKIPPED")
    outcomes = {row.step_key: row for row in _rows_by_id(
        conn, ids, events.c.run_id, events.c.step_key, events.c.type)}
    run_ids = sorted({row.run_id for row in outcomes.values()})
    ended: dict[str, str] = {}
    for chunk in _chunks(run_ids):
        ended.update((row.run_id, row.status) for row in conn.execute(
            sa.select(runs.c.run_id, runs.c.status)
            .where(runs.c.run_id.in_(chunk), runs.c.status.in_(list(TERMINAL_STATUSES)))))
    states: dict[str, AssetState] = {}
    for key, steps in steps_of.items():
        made_id, made = latest.get(key, (0, None))
        attempts = [outcomes[step] for step in {asset_step(key), *steps} if step in outcomes]
        attempt = max(attempts, key=lambda row: row.id, default=None)
        states[key] = _state(made_id, made, attempt, ended)
    return states


def _state(made_id: int, made: Materialization | None, attempt: Any,
           ended: Mapping[str, str]) -> AssetState:
    settled = AssetStatus.MATERIALIZED if made is not None else AssetStatus.NEVER
    if attempt is None or attempt.id < made_id:
        return AssetState(settled, made, made.run_id if made else None)
    running = attempt.run_id not in ended
    if attempt.type in ("STEP_FAILURE", "STEP_CANCELED"):
        status = AssetStatus.FAILED
    elif attempt.type == "STEP_SUCCESS":
        # its own step records the materialization before it succeeds; a multi-asset's
        # step that succeeded hands over to the asset's step, which may not have started
        done = made is not None and made.run_id == attempt.run_id
        status = (settled if done or not running else AssetStatus.IN_PROGRESS)
    elif not running and ended[attempt.run_id] == RunStatus.SUCCESS:
        # the run succeeded, so the step did: its last events are still on their way (the
        # uploader's batches may be stored out of order; a run's order is its seq)
        status = settled
    else:
        # started (or waiting to retry): still going, unless its run ended under it
        status = AssetStatus.IN_PROGRESS if running else AssetStatus.FAILED
    return AssetState(status, made, attempt.run_id)
