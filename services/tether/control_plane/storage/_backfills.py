"""Backfills: runs of many partitions of one job (or of one asset selection), created by the
backfill daemon a batch at a time.

A backfill is checked and stored at launch (:func:`request`): its target and its partitions,
kept compactly (a range of the partitions definition as it was then, or an explicit list).
The daemon then creates its runs in order (:func:`create_batch`): each batch's runs and
their rows in ``backfill_partitions`` (unique per backfill and partition) in one
transaction, so a daemon killed mid-way, or two racing, create each partition's run once.
The runs are ordinary runs, tagged ``tether/backfill``: they go through the run queue, whose
limits throttle them. The backfill ends (:func:`settle`) when every run has ended: COMPLETED
when all succeeded, FAILED otherwise, CANCELED when it was canceled.

When every asset the backfill materializes declares one backfill policy
(``BackfillPolicy.single_run()`` or ``.multi_run(N)``), a run covers a chunk of consecutive
partitions instead of one: a ranged run, tagged ``tether/partition_range_start``/``end``
(a chunk of one partition is an ordinary run of it). Each partition still has its row, which
points at its chunk's run: counts, progress and the failed partitions stay per partition, and
re-running the failed ones chunks them again. Assets with different policies (or some with
none) in one backfill are refused at launch: backfill them apart.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether import partitions as keys_of_def
from tether.partitions import RANGE_END_TAG, RANGE_START_TAG
from tether.wire import AssetSnapshot, BackfillPolicySnapshot, JobSnapshot, PartitionsSnapshot

from ...errors import PartitionError, TetherError
from ..errors import BadInput, LocationNotFound, LocationNotLoaded
from . import _cancel, _codec, _launch, _locations, _runs
from ._bulk import insert_new
from ._materialize import plan_materialization
from ._partitions import keys_for
from ._projection import TERMINAL_STATUSES, RunStatus
from ._queue import QueueLimits
from ._records import ExistingRun, LaunchRequest, LocationRecord, NewRun
from ._schema import backfill_partitions, backfills, runs
from ._tags import BACKFILL_TAG

# the daemon that creates backfills' runs
DAEMON = "backfill"
# the runs one transaction creates
BATCH_SIZE = 500

_encode_partitions = msgspec.msgpack.Encoder().encode
_decode_partitions = msgspec.msgpack.Decoder(PartitionsSnapshot).decode
_NAMED = 10


class BackfillStatus(StrEnum):
    REQUESTED = "REQUESTED"
    RUNNING = "RUNNING"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


_CREATING = (BackfillStatus.REQUESTED, BackfillStatus.RUNNING)
_ACTIVE = (*_CREATING, BackfillStatus.CANCELING)


@dataclass(frozen=True, slots=True)
class BackfillRecord:
    """A backfill, with how its runs stand: ``counts`` by run status (``NOT_CREATED`` for
    the partitions whose run the daemon has not created yet), and the partitions that did not
    succeed (a failed run, or a launch refused: ``errors``)."""

    id: str
    location: str
    job_name: str | None
    asset_selection: list[str] | None
    partitions: PartitionsSnapshot
    range_first: str | None
    range_last: str | None
    partition_list: list[str] | None
    partition_count: int
    created_count: int
    status: BackfillStatus
    tags: dict[str, Any]
    launched_by: str
    parent_id: str | None
    created_at: float
    ended_at: float | None
    counts: dict[str, int] = field(default_factory=dict)
    failed_partitions: list[str] = field(default_factory=list)
    # why a partition's run could not be created, by partition
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        """What it runs, for lists and logs: "job daily" or "assets a, b"."""
        if self.job_name is not None:
            return f"job {self.job_name}"
        return "assets " + ", ".join(self.asset_selection or ())

    @property
    def ended_runs(self) -> int:
        return sum(n for status, n in self.counts.items() if status in TERMINAL_STATUSES)

    @property
    def progress(self) -> float:
        """The share of its partitions whose run has ended (or could not be created)."""
        done = self.ended_runs + len(self.errors)
        return done / self.partition_count if self.partition_count else 1.0

    @property
    def ended(self) -> bool:
        return self.status not in _ACTIVE

    def keys(self) -> list[str]:
        """Its partitions, in the order the daemon creates their runs."""
        if self.partition_list is not None:
            return self.partition_list
        assert self.range_first is not None and self.range_last is not None
        # the range was checked at launch: enumerated as of then, it is the same keys
        return keys_of_def.key_range(self.partitions, self.range_first, self.range_last,
                                     now=self.created_at)


# -- launch ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackfillSpec:
    """What a user asks for: a job (or asset keys) of a location and which partitions:
    ``first``..``last`` (each defaulting to the first and last partition), or ``keys``."""

    location: str | None
    job_name: str | None = None
    asset_selection: list[str] | None = None
    first: str | None = None
    last: str | None = None
    keys: list[str] | None = None
    tags: dict[str, Any] = field(default_factory=dict)


def request(conn: Connection, spec: BackfillSpec, *, launched_by: str, now: float,
            parent_id: str | None = None) -> str:
    """Check and store a backfill for the daemon to run; its id. Raises BadInput (no target
    or two, a target that is not partitioned, a key that is not a partition, a range outside
    the partitions or backwards, a range and a list together) and what finding the job or
    location raises."""
    if (spec.job_name is None) == (spec.asset_selection is None):
        raise BadInput("a backfill runs either a job or a selection of assets: give one")
    if spec.keys is not None and (spec.first is not None or spec.last is not None):
        raise BadInput("give either a range of partitions (from, to) or a list of them, "
                       "not both")
    if spec.job_name is not None:
        record, job = _locations.find_job(conn, spec.job_name, spec.location)
        definition = _job_partitions(job, f"job {job.name!r}")
    else:
        record = _location(conn, spec.location)
        job, _ = plan_materialization(record, spec.asset_selection or [])
        definition = _selection_partitions(record.snapshot.assets if record.snapshot else [],
                                           spec.asset_selection or [], job)
    _policy(_target_assets(record, job, spec.asset_selection))  # refuses mixed policies
    dynamic = keys_for(conn, definition)
    values: dict[str, Any]
    if spec.keys is not None:
        keys = _checked_keys(definition, spec.keys, now=now, dynamic=dynamic)
        values = {"partition_list": _codec.to_json_text(keys)}
    else:
        keys = _checked_range(definition, spec.first, spec.last, now=now, dynamic=dynamic)
        if keys_of_def.dynamic_names(definition):
            # dynamic keys come and go: the keys of the range are the ones of now
            values = {"partition_list": _codec.to_json_text(keys)}
        else:
            values = {"range_first": keys[0], "range_last": keys[-1]}
    backfill_id = uuid.uuid4().hex[:12]
    conn.execute(backfills.insert().values(
        id=backfill_id, location=record.name, job_name=spec.job_name and job.name,
        asset_selection=(None if spec.asset_selection is None
                         else _codec.to_json_text(list(dict.fromkeys(spec.asset_selection)))),
        partitions=_encode_partitions(definition), partition_count=len(keys),
        created_count=0, status=BackfillStatus.REQUESTED,
        tags=_codec.to_json_text(spec.tags), launched_by=launched_by, parent_id=parent_id,
        created_at=now, ended_at=None, **values))
    return backfill_id


def _location(conn: Connection, name: str | None) -> LocationRecord:
    if name is None:
        loaded = [record for record in _locations.list_all(conn) if record.snapshot]
        if len(loaded) != 1:
            raise BadInput("name the code location of the assets to backfill (there are "
                           f"{len(loaded)} loaded locations)")
        return loaded[0]
    record = _locations.get(conn, name)
    if record is None:
        raise LocationNotFound(name, [known.name for known in _locations.list_all(conn)])
    return record


def _job_partitions(job: JobSnapshot, what: str) -> PartitionsSnapshot:
    if job.partitions is None:
        raise BadInput(f"{what} is not partitioned: a backfill runs a partitioned job's "
                       "partitions; launch a single run of it instead")
    return job.partitions


def _selection_partitions(assets: Sequence[Any], keys: Sequence[str],
                          job: JobSnapshot) -> PartitionsSnapshot:
    by_key = {asset.key: asset for asset in assets}
    unpartitioned = [key for key in keys if by_key[key].partitions is None]
    if unpartitioned:
        raise BadInput(f"asset(s) {', '.join(unpartitioned)} are not partitioned: a "
                       "backfill materializes partitioned assets; leave them out")
    definitions = {by_key[key].partitions for key in keys}
    if len(definitions) > 1 or job.partitions not in definitions:
        raise BadInput(f"the assets {', '.join(keys)} do not share one partitions "
                       "definition with an asset job over them: backfill them apart")
    return _job_partitions(job, f"job {job.name!r}")


def _target_assets(record: LocationRecord, job: JobSnapshot,
                   selection: Sequence[str] | None) -> list[AssetSnapshot]:
    """The assets a backfill's runs materialize: the selection, or the job's assets."""
    assets = {asset.key: asset for asset in record.snapshot.assets} if record.snapshot else {}
    keys = (selection if selection is not None
            else [node.asset_key for node in job.nodes if node.asset_key is not None])
    return [assets[key] for key in dict.fromkeys(keys) if key in assets]


def _policy(assets: Sequence[AssetSnapshot]) -> BackfillPolicySnapshot | None:
    """The backfill policy every one of ``assets`` declares (None: none, a run per
    partition). Raises BadInput when they declare different ones."""
    policies = {asset.backfill_policy for asset in assets}
    if len(policies) > 1:
        said = ", ".join(f"{asset.key} ({_describe_policy(asset.backfill_policy)})"
                         for asset in assets)
        raise BadInput(f"the assets of this backfill declare different backfill policies: "
                       f"{said}; one run cannot cover a range for some and one partition "
                       f"for others: backfill them apart, or give them one policy")
    return next(iter(policies), None)


def _describe_policy(policy: BackfillPolicySnapshot | None) -> str:
    if policy is None:
        return "none: a run per partition"
    if policy.max_partitions_per_run is None:
        return "single_run"
    return f"multi_run({policy.max_partitions_per_run})"


def chunks(keys: Sequence[str], positions: Mapping[str, int],
           policy: BackfillPolicySnapshot | None) -> list[list[str]]:
    """``keys`` (in the definition's order) cut into the partitions of each run: one each
    without a policy; with one, runs of consecutive partitions (a gap in the keys, as in a
    re-run of failed partitions, starts a new run), of up to ``max_partitions_per_run``."""
    if policy is None:
        return [[key] for key in keys]
    most = policy.max_partitions_per_run
    cut: list[list[str]] = []
    for key in keys:
        # a key with no position (a dynamic key deleted since the launch) runs alone, and
        # its launch says it is no partition
        last = cut[-1] if cut else []
        here, before = positions.get(key), positions.get(last[-1]) if last else None
        if (here is not None and before is not None and here == before + 1
                and (most is None or len(last) < most)):
            last.append(key)
        else:
            cut.append([key])
    return cut


def _checked_keys(definition: PartitionsSnapshot, keys: Sequence[str], *, now: float,
                  dynamic: keys_of_def.DynamicKeys) -> list[str]:
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        raise BadInput("the list of partitions to backfill is empty")
    unknown = [key for key in wanted
               if keys_of_def.key_index(definition, key, now=now, dynamic=dynamic) is None]
    if unknown:
        shown = ", ".join(map(repr, unknown[:_NAMED]))
        raise BadInput(f"no partition {shown}" + (f" and {len(unknown) - _NAMED} more"
                                                  if len(unknown) > _NAMED else "")
                       + "; the partitions: "
                       + keys_of_def.describe(definition, now=now, dynamic=dynamic))
    return wanted


def _checked_range(definition: PartitionsSnapshot, first: str | None, last: str | None, *,
                   now: float, dynamic: keys_of_def.DynamicKeys) -> list[str]:
    every = keys_of_def.partition_keys(definition, now=now, dynamic=dynamic)
    if not every:
        raise BadInput("there are no partitions to backfill yet: "
                       + keys_of_def.describe(definition, now=now, dynamic=dynamic))
    try:
        return keys_of_def.key_range(definition, first or every[0], last or every[-1],
                                     now=now, dynamic=dynamic)
    except PartitionError as exc:
        raise BadInput(str(exc)) from exc


# -- the daemon ----------------------------------------------------------------------------


def creating(conn: Connection) -> list[str]:
    """The backfills whose runs are still to be created, oldest first."""
    return [str(row.id) for row in conn.execute(
        sa.select(backfills.c.id).where(backfills.c.status.in_(_CREATING))
        .order_by(backfills.c.created_at, backfills.c.id))]


def create_batch(conn: Connection, backfill_id: str, *, now: float, limits: QueueLimits,
                 size: int = BATCH_SIZE) -> int:
    """Create the runs of the backfill's next ``size`` partitions (whole chunks of a ranged
    backfill: at least one) and their rows; how many partitions it handled (0: none left, or
    its location is not loaded now)."""
    row = conn.execute(sa.select(backfills).where(backfills.c.id == backfill_id)
                       .with_for_update()).one_or_none()
    if row is None or row.status not in _CREATING:
        return 0
    backfill = _record(row)
    remaining = backfill.keys()[backfill.created_count:]
    if not remaining:
        return 0
    try:
        requests, planned_chunks = _requests(conn, backfill, remaining, size)
        planned: Sequence[NewRun | ExistingRun | TetherError] = _launch.plan(
            conn, requests, now=now)
    except (LocationNotFound, LocationNotLoaded):
        return 0  # it waits for its location to load again
    except TetherError as exc:  # its assets are no longer materialized by one job
        planned_chunks = [[key] for key in remaining[:size]]
        planned = [exc] * len(planned_chunks)
    new: list[tuple[list[str], NewRun]] = []
    rows: list[dict[str, Any]] = []
    for chunk, plan in zip(planned_chunks, planned, strict=True):
        if isinstance(plan, NewRun):
            new.append((chunk, plan))
            rows += [{"backfill_id": backfill_id, "partition": key, "run_id": plan.run_id,
                      "error": None} for key in chunk]
        elif isinstance(plan, TetherError):
            rows += [{"backfill_id": backfill_id, "partition": key, "run_id": None,
                      "error": str(plan)} for key in chunk]
    # a partition whose row exists has its run already (another daemon's, or a batch
    # before this one that committed): its run is not created again. A chunk's rows are
    # written in the transaction that advances created_count past all of them, so a chunk
    # has all its rows or none
    inserted = {str(found.partition) for found in insert_new(
        conn, backfill_partitions, rows, unique=["backfill_id", "partition"],
        returning=[backfill_partitions.c.partition])}
    _launch.create(conn, [run for chunk, run in new if chunk[0] in inserted],
                   now=now, limits=limits)
    handled = sum(map(len, planned_chunks))
    conn.execute(backfills.update().where(backfills.c.id == backfill_id).values(
        created_count=backfill.created_count + handled, status=BackfillStatus.RUNNING))
    return handled


def _requests(conn: Connection, backfill: BackfillRecord, remaining: Sequence[str],
              size: int) -> tuple[list[LaunchRequest], list[list[str]]]:
    """The launches of the next chunks of ``remaining`` that hold ``size`` partitions (at
    least one chunk), and each chunk's partitions."""
    tags = {**backfill.tags, BACKFILL_TAG: backfill.id}
    record = _locations.get(conn, backfill.location)
    if record is None:
        raise LocationNotFound(backfill.location, [])
    if record.snapshot is None or not _locations.is_launchable(record):
        raise LocationNotLoaded(backfill.location, record.status)
    if backfill.job_name is not None:
        job_name, steps = backfill.job_name, None
        job = record.snapshot.job(job_name)
        policy = None if job is None else _policy(_target_assets(record, job, None))
    else:
        job, steps = plan_materialization(record, backfill.asset_selection or [])
        job_name = job.name
        policy = _policy(_target_assets(record, job, backfill.asset_selection))
    positions = ({} if policy is None else keys_of_def.key_positions(
        backfill.partitions, now=backfill.created_at,
        dynamic=keys_for(conn, backfill.partitions)))
    cut: list[list[str]] = []
    for chunk in chunks(remaining if policy is not None else remaining[:size], positions,
                        policy):
        if cut and sum(map(len, cut)) + len(chunk) > size:
            break
        cut.append(chunk)
    return [LaunchRequest(job_name=job_name, location=backfill.location, step_selection=steps,
                          partition=chunk[0] if len(chunk) == 1 else None,
                          tags=tags if len(chunk) == 1 else {
                              **tags, RANGE_START_TAG: chunk[0], RANGE_END_TAG: chunk[-1]})
            for chunk in cut], cut


def any_active(conn: Connection) -> bool:
    """Whether a backfill has not ended (so that an idle daemon's turn writes nothing)."""
    return conn.execute(sa.select(backfills.c.id).where(backfills.c.status.in_(_ACTIVE))
                        .limit(1)).first() is not None


def settle(conn: Connection, now: float, only: str | None = None) -> list[BackfillRecord]:
    """End the backfills whose runs have all been created and have all ended (those being
    canceled, once their runs have); the ones ended."""
    query = sa.select(backfills).where(backfills.c.status.in_(_ACTIVE))
    if only is not None:
        query = query.where(backfills.c.id == only)
    ended = []
    for row in conn.execute(query).all():
        canceling = row.status == BackfillStatus.CANCELING
        if not canceling and row.created_count < row.partition_count:
            continue
        backfill = _with_counts(conn, _record(row))
        if any(status not in TERMINAL_STATUSES for status in backfill.counts
               if status != NOT_CREATED):
            continue
        status = (BackfillStatus.CANCELED if canceling
                  else BackfillStatus.FAILED if backfill.failed_partitions
                  or backfill.counts.get(RunStatus.CANCELED)
                  else BackfillStatus.COMPLETED)
        conn.execute(backfills.update().where(backfills.c.id == row.id)
                     .values(status=status, ended_at=now))
        ended.append(get(conn, row.id))
    return [backfill for backfill in ended if backfill is not None]


# -- cancel, re-run ------------------------------------------------------------------------


def cancel(conn: Connection, backfill_id: str, *, now: float) -> int:
    """Stop creating the backfill's runs and cancel those not ended; how many runs it
    canceled. Raises BadInput for an unknown or ended backfill."""
    backfill = _require(conn, backfill_id)
    if backfill.ended:
        raise BadInput(f"backfill {backfill_id} has already ended ({backfill.status}); "
                       "nothing to cancel")
    conn.execute(backfills.update().where(backfills.c.id == backfill_id)
                 .values(status=BackfillStatus.CANCELING))
    # a ranged run is the run of each partition of its chunk: each is canceled once
    not_ended = list(dict.fromkeys(str(row.run_id) for row in conn.execute(
        sa.select(backfill_partitions.c.run_id)
        .join(runs, runs.c.run_id == backfill_partitions.c.run_id)
        .where(backfill_partitions.c.backfill_id == backfill_id,
               runs.c.status.not_in(TERMINAL_STATUSES)))))
    locked = _runs.lock_runs(conn, not_ended)
    for run in locked.values():
        if not run.projection.is_terminal:
            _cancel.cancel_run(conn, run, now=now)
    settle(conn, now, only=backfill_id)
    return len(locked)


def rerun_failed(conn: Connection, backfill_id: str, *, launched_by: str,
                 now: float) -> str:
    """A new backfill of the failed partitions of an ended one, linked to it; its id."""
    backfill = _require(conn, backfill_id)
    if not backfill.ended:
        raise BadInput(f"backfill {backfill_id} is {backfill.status}: re-run its failed "
                       "partitions once it has ended")
    if not backfill.failed_partitions:
        raise BadInput(f"backfill {backfill_id} has no failed partitions to re-run")
    return request(conn, BackfillSpec(
        location=backfill.location, job_name=backfill.job_name,
        asset_selection=backfill.asset_selection, keys=backfill.failed_partitions,
        tags=backfill.tags), launched_by=launched_by, now=now, parent_id=backfill_id)


# -- reading -------------------------------------------------------------------------------

# the count of the partitions whose run is not created yet
NOT_CREATED = "NOT_CREATED"


def get(conn: Connection, backfill_id: str) -> BackfillRecord | None:
    row = conn.execute(sa.select(backfills).where(backfills.c.id == backfill_id)).one_or_none()
    return None if row is None else _with_counts(conn, _record(row))


def list_backfills(conn: Connection, limit: int = 50) -> list[BackfillRecord]:
    """The newest backfills first, with their counts."""
    rows = conn.execute(sa.select(backfills)
                        .order_by(backfills.c.created_at.desc(), backfills.c.id.desc())
                        .limit(limit)).all()
    return [_with_counts(conn, _record(row)) for row in rows]


def _require(conn: Connection, backfill_id: str) -> BackfillRecord:
    backfill = get(conn, backfill_id)
    if backfill is None:
        raise BadInput(f"no backfill {backfill_id!r}: `tether backfill list` lists them")
    return backfill


def _record(row: Any) -> BackfillRecord:
    return BackfillRecord(
        id=row.id, location=row.location, job_name=row.job_name,
        asset_selection=(None if row.asset_selection is None
                         else _codec.list_json_decoder.decode(row.asset_selection)),
        partitions=_decode_partitions(row.partitions), range_first=row.range_first,
        range_last=row.range_last,
        partition_list=(None if row.partition_list is None
                        else _codec.list_json_decoder.decode(row.partition_list)),
        partition_count=row.partition_count, created_count=row.created_count,
        status=BackfillStatus(row.status), tags=_codec.dict_json_decoder.decode(row.tags),
        launched_by=row.launched_by, parent_id=row.parent_id, created_at=row.created_at,
        ended_at=row.ended_at)


def _with_counts(conn: Connection, backfill: BackfillRecord) -> BackfillRecord:
    counts: dict[str, int] = {}
    for row in conn.execute(
            sa.select(runs.c.status, sa.func.count())
            .select_from(backfill_partitions)
            .join(runs, runs.c.run_id == backfill_partitions.c.run_id)
            .where(backfill_partitions.c.backfill_id == backfill.id)
            .group_by(runs.c.status)):
        counts[str(row[0])] = int(row[1])
    errors = {str(row.partition): str(row.error) for row in conn.execute(
        sa.select(backfill_partitions.c.partition, backfill_partitions.c.error)
        .where(backfill_partitions.c.backfill_id == backfill.id,
               backfill_partitions.c.run_id.is_(None)))}
    failed = {str(row.partition) for row in conn.execute(
        sa.select(backfill_partitions.c.partition)
        .join(runs, runs.c.run_id == backfill_partitions.c.run_id)
        .where(backfill_partitions.c.backfill_id == backfill.id,
               runs.c.status == RunStatus.FAILURE))} | set(errors)
    not_created = backfill.partition_count - sum(counts.values()) - len(errors)
    if not_created > 0:
        counts[NOT_CREATED] = not_created
    order = backfill.keys() if failed else []
    return dataclasses.replace(backfill, counts=counts, errors=errors,
                               failed_partitions=[key for key in order if key in failed])
