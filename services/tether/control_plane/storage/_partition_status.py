"""Each asset partition's status, a projection of the event log like the ``runs`` row.

A run plans each asset partition it is to materialize (ASSET_MATERIALIZATION_PLANNED): the
partition is IN_PROGRESS. Its ASSET_MATERIALIZATION makes it MATERIALIZED. When the run ends
with the partition still in progress, a failure leaves it FAILED; a success that did not
materialize it (a skipped step) or a cancel leaves it as it was before (MATERIALIZED if an
earlier run materialized it, else MISSING). The latest run to plan a partition decides it, so
a re-run that succeeds turns a failed partition materialized.

:func:`fold` is the pure rule; the store applies it to each batch of stored events in their
transaction (:func:`apply_events`, :func:`settle_runs`), and :func:`rebuild` replays the whole
log into the table from scratch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.wire import AssetMaterialization, AssetMaterializationPlanned, RunEvent

from . import _codec
from ._engine import upsert
from ._schema import asset_partitions, events, runs

# keys of a batch looked up per statement: well inside SQLite's limit on bound variables
_PAIRS_PER_QUERY = 400


class PartitionState(StrEnum):
    MATERIALIZED = "MATERIALIZED"
    FAILED = "FAILED"
    IN_PROGRESS = "IN_PROGRESS"
    MISSING = "MISSING"


class RunEnd(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELED = "CANCELED"


@dataclass(frozen=True, slots=True)
class PartitionRow:
    status: PartitionState = PartitionState.MISSING
    # the run that planned or materialized it last, and the last run that materialized it
    last_run_id: str | None = None
    materialized_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class Planned:
    run_id: str


@dataclass(frozen=True, slots=True)
class Materialized:
    run_id: str


@dataclass(frozen=True, slots=True)
class Ended:
    run_id: str
    end: RunEnd


PartitionFact = Planned | Materialized | Ended


def fold(row: PartitionRow, fact: PartitionFact) -> PartitionRow:
    match fact:
        case Planned():
            return PartitionRow(PartitionState.IN_PROGRESS, fact.run_id, row.materialized_run_id)
        case Materialized():
            return PartitionRow(PartitionState.MATERIALIZED, fact.run_id, fact.run_id)
        case Ended():
            if row.last_run_id != fact.run_id or row.status != PartitionState.IN_PROGRESS:
                return row
            return PartitionRow(settled(fact.end, row.materialized_run_id is not None),
                                row.last_run_id, row.materialized_run_id)
    raise AssertionError(f"unknown fact {fact!r}")


def settled(end: RunEnd, materialized_before: bool) -> PartitionState:
    """The status of a partition whose run ended with it still in progress."""
    if end is RunEnd.FAILURE:
        return PartitionState.FAILED
    return PartitionState.MATERIALIZED if materialized_before else PartitionState.MISSING


def _facts(stored: Iterable[RunEvent]) -> list[tuple[tuple[str, str], PartitionFact]]:
    facts: list[tuple[tuple[str, str], PartitionFact]] = []
    for event in stored:
        if isinstance(event, AssetMaterializationPlanned) and event.partition is not None:
            facts.append(((event.asset_key, event.partition), Planned(event.run_id)))
        elif isinstance(event, AssetMaterialization) and event.partition is not None:
            facts.append(((event.asset_key, event.partition), Materialized(event.run_id)))
    return facts


def apply_events(conn: Connection, stored: Iterable[RunEvent], now: float) -> None:
    """Fold newly stored events into the partition rows they concern (most batches concern
    none: a cheap scan of their types)."""
    facts = _facts(stored)
    if not facts:
        return
    rows = _rows(conn, {key for key, _ in facts})
    changed: dict[tuple[str, str], PartitionRow] = {}
    for key, fact in facts:
        changed[key] = rows[key] = fold(rows.get(key, PartitionRow()), fact)
    _write(conn, changed, now)


def settle_runs(conn: Connection, ended: Mapping[str, RunEnd], now: float) -> None:
    """Settle the partitions that runs which just ended still had in progress: the rule of
    :func:`fold` for :class:`Ended`, as one statement per kind of end."""
    for end in RunEnd:
        run_ids = sorted(run_id for run_id, how in ended.items() if how is end)
        if not run_ids:
            continue
        in_progress = sa.and_(asset_partitions.c.last_run_id.in_(run_ids),
                              asset_partitions.c.status == PartitionState.IN_PROGRESS)
        if end is RunEnd.FAILURE:
            status: sa.ColumnElement[str] = sa.literal(PartitionState.FAILED.value)
        else:
            status = sa.case((asset_partitions.c.materialized_run_id.is_not(None),
                              PartitionState.MATERIALIZED.value),
                             else_=PartitionState.MISSING.value)
        conn.execute(asset_partitions.update().where(in_progress).values(
            status=status, updated_at=now))


def _rows(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], PartitionRow]:
    found: dict[tuple[str, str], PartitionRow] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _PAIRS_PER_QUERY):
        query = sa.select(asset_partitions).where(
            sa.tuple_(asset_partitions.c.asset_key, asset_partitions.c.partition).in_(
                ordered[start:start + _PAIRS_PER_QUERY]))
        for row in conn.execute(query):
            found[row.asset_key, row.partition] = PartitionRow(
                PartitionState(row.status), row.last_run_id, row.materialized_run_id)
    return found


def _write(conn: Connection, rows: Mapping[tuple[str, str], PartitionRow], now: float) -> None:
    if not rows:
        return
    insert = upsert(conn, asset_partitions)
    statement = insert.on_conflict_do_update(
        index_elements=[asset_partitions.c.deployment, asset_partitions.c.asset_key,
                        asset_partitions.c.partition],
        set_={"status": insert.excluded.status, "last_run_id": insert.excluded.last_run_id,
              "materialized_run_id": insert.excluded.materialized_run_id,
              "updated_at": insert.excluded.updated_at})
    conn.execute(statement, [
        {"asset_key": asset_key, "partition": partition, "status": row.status,
         "last_run_id": row.last_run_id, "materialized_run_id": row.materialized_run_id,
         "updated_at": now}
        for (asset_key, partition), row in rows.items()])


_RUN_ENDS = {"RUN_SUCCESS": RunEnd.SUCCESS, "RUN_FAILURE": RunEnd.FAILURE,
             "RUN_CANCELED": RunEnd.CANCELED}
_PARTITION_EVENTS = ("ASSET_MATERIALIZATION", "ASSET_MATERIALIZATION_PLANNED")


def rebuild(conn: Connection, now: float) -> int:
    """Recompute every partition row from the stored events of partitioned runs, in the
    order they were stored; the number of rows written."""
    partitioned = sa.select(runs.c.run_id).where(runs.c.partition.is_not(None))
    query = (sa.select(events.c.run_id, events.c.seq, events.c.type, events.c.body)
             .where(events.c.type.in_([*_PARTITION_EVENTS, *_RUN_ENDS]),
                    events.c.run_id.in_(partitioned))
             .order_by(events.c.id))
    rows: dict[tuple[str, str], PartitionRow] = {}
    # the partitions each run planned or materialized last
    by_run: dict[str, set[tuple[str, str]]] = {}
    for stored in conn.execute(query):
        if stored.type in _RUN_ENDS:
            fact = Ended(stored.run_id, _RUN_ENDS[stored.type])
            for key in by_run.get(stored.run_id, ()):
                rows[key] = fold(rows[key], fact)
            continue
        event = _codec.event_decoder.decode(stored.body)
        for key, partition_fact in _facts([event]):
            before = rows.get(key, PartitionRow())
            if before.last_run_id is not None:
                by_run[before.last_run_id].discard(key)
            rows[key] = fold(before, partition_fact)
            by_run.setdefault(partition_fact.run_id, set()).add(key)
    conn.execute(asset_partitions.delete())
    _write(conn, rows, now)
    return len(rows)


@dataclass(frozen=True, slots=True)
class AssetPartitionStatus:
    """The partitions of one asset, in order (``keys``), and the positions of those in each
    state but missing (sorted); what the partition bar draws and the counts say."""

    keys: list[str]
    positions: dict[PartitionState, list[int]]

    @classmethod
    def of(cls, keys: list[str], position: Mapping[str, int],
           by_state: Mapping[PartitionState, list[str]]) -> AssetPartitionStatus:
        count = len(keys)
        positions: dict[PartitionState, list[int]] = {}
        for state, state_keys in by_state.items():
            # a row of a key the definition no longer has (a deleted dynamic key, a window
            # past the end) counts not
            found = [index for index in map(position.get, state_keys)
                     if index is not None and index < count]
            found.sort()
            positions[state] = found
        return cls(keys=keys, positions=positions)

    @property
    def counts(self) -> dict[PartitionState, int]:
        counts = {state: len(self.positions.get(state, ())) for state in PartitionState}
        counts[PartitionState.MISSING] = len(self.keys) - sum(counts.values())
        return counts

    @property
    def states(self) -> dict[str, PartitionState]:
        """The state of each partition that is not missing, by key."""
        return {self.keys[index]: state for state, found in self.positions.items()
                for index in found}

    def with_state(self, state: PartitionState, limit: int) -> list[str]:
        """Up to ``limit`` keys in ``state``, in the definition's order."""
        if state is not PartitionState.MISSING:
            return [self.keys[index] for index in self.positions.get(state, [])[:limit]]
        taken = {index for found in self.positions.values() for index in found}
        return [key for index, key in enumerate(self.keys) if index not in taken][:limit]


def statuses(conn: Connection, asset_key: str) -> dict[PartitionState, list[str]]:
    """The partitions of ``asset_key`` in each state but missing (those with no row, or a
    MISSING one). One row per state, its keys joined by newlines in the database: an asset
    has up to 100,000 partitions, and fetching a row per key costs the most here."""
    column = asset_partitions.c.partition
    joined = (sa.func.string_agg(column, "\n") if conn.dialect.name == "postgresql"
              else sa.func.group_concat(column, "\n"))
    query = (sa.select(asset_partitions.c.status, joined)
             .where(asset_partitions.c.asset_key == asset_key,
                    asset_partitions.c.status != PartitionState.MISSING.value)
             .group_by(asset_partitions.c.status))
    return {_STATES[status]: keys.split("\n") for status, keys in conn.execute(query) if keys}


_STATES = {state.value: state for state in PartitionState}
