"""Dynamic partitions' keys, and the partition checks of a launch.

A dynamic partitions definition's keys live here, not in user code: sensors add them (their
tick's ``dynamic_partitions_requests``), and so do the API and the CLI. Whether a launch's
partition is one of its job's is decided from the job's snapshot (:mod:`tether.partitions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether import partitions as partition_keys
from tether.wire import (
    AddDynamicPartitions,
    DynamicPartitionsRequest,
    JobSnapshot,
    PartitionsSnapshot,
)

from ...errors import PartitionError
from ..errors import BadInput
from ._bulk import insert_new
from ._schema import dynamic_partitions


def dynamic_keys(conn: Connection, names: Iterable[str]) -> dict[str, list[str]]:
    """The keys of each dynamic partitions definition named, in the order they were added."""
    wanted = sorted(set(names))
    found: dict[str, list[str]] = {name: [] for name in wanted}
    if not wanted:
        return found
    rows = conn.execute(
        sa.select(dynamic_partitions.c.name, dynamic_partitions.c.partition)
        .where(dynamic_partitions.c.name.in_(wanted))
        .order_by(dynamic_partitions.c.created_at, dynamic_partitions.c.partition))
    for row in rows:
        found[row.name].append(row.partition)
    return found


def keys_for(conn: Connection, definition: PartitionsSnapshot | None) -> dict[str, list[str]]:
    """The dynamic keys ``definition`` needs to be enumerated."""
    return dynamic_keys(conn, partition_keys.dynamic_names(definition))


def run_dynamic_keys(conn: Connection, location: str, job_name: str
                     ) -> dict[str, list[str]]:
    """The keys of the dynamic partitions definitions a run of ``job_name`` may enumerate:
    the job's, its assets' and those of the assets they read, by name (none when it uses
    none). The run's launch carries them, so its worker never asks the control plane."""
    from . import _locations  # here: _locations hands launches to _work, which calls this

    record = _locations.get(conn, location)
    job = None if record is None or record.snapshot is None else record.snapshot.job(job_name)
    if record is None or record.snapshot is None or job is None:
        return {}
    assets = {asset.key: asset for asset in record.snapshot.assets}
    names = set(partition_keys.dynamic_names(job.partitions))
    for node in job.nodes:
        asset = assets.get(node.asset_key) if node.asset_key else None
        for read in ([asset, *(assets.get(dep) for dep in asset.deps)] if asset else []):
            if read is not None:
                names.update(partition_keys.dynamic_names(read.partitions))
    return dynamic_keys(conn, names) if names else {}


def add_dynamic(conn: Connection, name: str, keys: Sequence[str], now: float) -> list[str]:
    """Add ``keys`` to dynamic partitions ``name``; the keys that were new."""
    for key in keys:
        _check_key(name, key)
    rows = [{"name": name, "partition": key, "created_at": now}
            for key in dict.fromkeys(keys)]
    inserted = insert_new(conn, dynamic_partitions, rows,
                          unique=["deployment", "name", "partition"],
                          returning=[dynamic_partitions.c.partition])
    return [str(row[0]) for row in inserted]


def delete_dynamic(conn: Connection, name: str, keys: Sequence[str]) -> int:
    """Delete ``keys`` from dynamic partitions ``name``; how many there were."""
    if not keys:
        return 0
    result = conn.execute(dynamic_partitions.delete().where(
        dynamic_partitions.c.name == name, dynamic_partitions.c.partition.in_(list(keys))))
    return int(result.rowcount or 0)


def apply_requests(conn: Connection, requests: Sequence[DynamicPartitionsRequest],
                   now: float) -> None:
    for request in requests:
        if isinstance(request, AddDynamicPartitions):
            add_dynamic(conn, request.name, request.keys, now)
        else:
            delete_dynamic(conn, request.name, request.keys)


def _check_key(name: str, key: str) -> None:
    if not key or any(c in key for c in "|/\0\n") or len(key) > 255:
        raise BadInput(f"dynamic partitions {name!r}: {key!r} is not a usable key (a "
                       f"non-empty string of at most 255 characters, without '|' or '/')")


def check_run_partition(conn: Connection, job: JobSnapshot, partition: str | None, *,
                        now: float, dynamic: dict[str, list[str]] | None = None,
                        partition_range: tuple[str, str] | None = None) -> None:
    """Raise BadInput unless ``partition`` fits ``job``: one of its partitions when it is
    partitioned, None when it is not; or, for a ranged run, ``partition_range`` (its
    ``tether/partition_range_start``/``end`` tags) two of its partitions, first to last.
    ``dynamic`` caches dynamic keys across launches."""
    if job.partitions is None:
        if partition is not None or partition_range is not None:
            got = partition if partition_range is None else " to ".join(partition_range)
            raise BadInput(f"job {job.name!r} is not partitioned, so a run of it has no "
                           f"partition (got {got!r}); launch it without one")
        return
    names = partition_keys.dynamic_names(job.partitions)
    if dynamic is None:
        dynamic = {}
    missing = [name for name in names if name not in dynamic]
    if missing:
        dynamic.update(dynamic_keys(conn, missing))
    if partition_range is not None:
        if partition is not None:
            raise BadInput(f"job {job.name!r}: a run is of one partition ({partition!r}) or "
                           f"of a range of them (tags {partition_keys.RANGE_START_TAG}, "
                           f"{partition_keys.RANGE_END_TAG}), not both")
        try:
            partition_keys.key_range(job.partitions, *partition_range, now=now,
                                     dynamic=dynamic)
        except PartitionError as exc:
            raise BadInput(f"job {job.name!r}: partition range {partition_range[0]!r} to "
                           f"{partition_range[1]!r}: {exc}") from exc
        return
    if partition is None:
        raise BadInput(f"job {job.name!r} is partitioned "
                       f"({partition_keys.describe(job.partitions, now=now, dynamic=dynamic)});"
                       f" give the partition to run")
    try:
        partition_keys.check_partition(job.partitions, partition, now=now, dynamic=dynamic,
                                       what=f"job {job.name!r}")
    except PartitionError as exc:
        raise BadInput(str(exc)) from exc
