"""``OpContext``: what an op's ``context`` parameter receives while it runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from .. import partitions
from ..errors import PartitionError
from ..wire import LogLevel, LogMessage, MultiPartitions, TimeWindowPartitions
from ._events import RunEmitter

if TYPE_CHECKING:
    from ._partitions import PartitionKeyRange, PartitionsDefinition


class OpLogger:
    """``context.log``: each call becomes a structured ``LOG_MESSAGE`` event of the run."""

    __slots__ = ("_emitter", "_step_key")

    def __init__(self, emitter: RunEmitter, step_key: str | None) -> None:
        self._emitter = emitter
        self._step_key = step_key

    def log(self, level: LogLevel, message: object) -> None:
        # the step key is passed explicitly: an op may log from a thread of its own
        self._emitter.emit(LogMessage, level=level, message=str(message), step_key=self._step_key)

    def debug(self, message: object) -> None:
        self.log("DEBUG", message)

    def info(self, message: object) -> None:
        self.log("INFO", message)

    def warning(self, message: object) -> None:
        self.log("WARNING", message)

    def error(self, message: object) -> None:
        self.log("ERROR", message)

    def critical(self, message: object) -> None:
        self.log("CRITICAL", message)


_NO_CONFIG: Mapping[str, Any] = {}


class OpContext:
    """The run and step an op is executing in, its config, and its logger.

    ``op_name`` is the op's own name and ``step_key`` the node's name in the job (they differ
    for an op invoked twice, ``op`` and ``op_2``). ``op_config`` is
    ``run_config["ops"][step_key]["config"]`` when present, as in Dagster.
    """

    __slots__ = (
        "_output_metadata",
        "asset_key",
        "attempt",
        "job_name",
        "log",
        "op_name",
        "partitions_def",
        "resources",
        "retry_number",
        "run_config",
        "run_id",
        "run_partition",
        "run_partition_keys",
        "selected_asset_keys",
        "selected_output_names",
        "step_key",
    )

    def __init__(
        self,
        *,
        emitter: RunEmitter,
        job_name: str,
        op_name: str,
        step_key: str,
        run_config: Mapping[str, Any],
        asset_key: str | None = None,
        resources: Any = None,
        retry_number: int = 0,
        selected_asset_keys: AbstractSet[Any] = frozenset(),
        selected_output_names: AbstractSet[str] = frozenset(),
        partition: str | None = None,
        partitions_def: PartitionsDefinition | None = None,
        partition_keys: Sequence[str] = (),
    ) -> None:
        self.run_id = emitter.run_id
        # the run's partition of its job, and the job's partitions (None: not partitioned)
        self.run_partition = partition
        # the partitions of a ranged run, first to last (empty: the run is not ranged)
        self.run_partition_keys: tuple[str, ...] = tuple(partition_keys)
        self.partitions_def = partitions_def
        # 0 on the step's first attempt, 1 on its first retry, ...
        self.retry_number = retry_number
        self.attempt = emitter.attempt
        self.job_name = job_name
        self.op_name = op_name
        self.step_key = step_key
        self.asset_key = asset_key
        # the AssetKeys this step materializes (its asset's; for a @multi_asset(can_subset=
        # True), those of its assets this run selected) and their out names
        self.selected_asset_keys = selected_asset_keys
        self.selected_output_names = selected_output_names
        self.run_config = run_config
        # ``context.resources.<name>``: the run's resources, set up on first use
        self.resources = resources
        self.log = OpLogger(emitter, step_key)
        self._output_metadata: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<OpContext run={self.run_id} step={self.step_key}>"

    def add_output_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Record metadata about this step's output (with an asset's materialization):
        plain values (str, int, float, Path, list, dict) or ``Metadata`` values; a label
        given twice keeps the last value."""
        self._output_metadata.update(metadata)

    @property
    def output_metadata(self) -> Mapping[str, Any]:
        """The metadata added so far."""
        return self._output_metadata

    @property
    def has_partition_key(self) -> bool:
        return self.run_partition is not None

    @property
    def has_partition_key_range(self) -> bool:
        """Whether the run covers partitions: one (``partition_key``) or a range of them."""
        return self.run_partition is not None or bool(self.run_partition_keys)

    @property
    def partition_key(self) -> str:
        """The partition this run is of (``"2026-12-01"``, ``"2026-12-01|eu"``)."""
        if self.run_partition_keys:
            raise PartitionError(
                f"run {self.run_id} of job {self.job_name!r} is a ranged run of partitions "
                f"{self.run_partition_keys[0]!r} to {self.run_partition_keys[-1]!r} (its "
                f"assets' backfill policy runs several partitions at once): read "
                f"context.partition_key_range, context.partition_keys or "
                f"context.partition_time_window instead of context.partition_key")
        if self.run_partition is None:
            raise PartitionError(f"run {self.run_id} of job {self.job_name!r} is not of a "
                                 f"partition: its job is not partitioned (give the job or "
                                 f"its assets partitions_def=)")
        return self.run_partition

    @property
    def partition_keys(self) -> list[str]:
        """Every partition the run covers, in order (one for a run of one partition)."""
        if self.run_partition_keys:
            return list(self.run_partition_keys)
        return [self.partition_key]

    @property
    def partition_key_range(self) -> PartitionKeyRange:
        """The first and last partition keys the run covers (one partition: the same key)."""
        from ._partitions import PartitionKeyRange

        keys = self.partition_keys
        return PartitionKeyRange(keys[0], keys[-1])

    @property
    def partition_time_window(self) -> partitions.TimeWindow:
        """The time window the run covers, from the start of its first partition to the end
        of its last (of its time dimension, for a multi-partition); a PartitionError when
        the partitions are not time windows."""
        first, last = self.partition_key_range
        return partitions.TimeWindow(self._window(first).start, self._window(last).end)

    def _window(self, key: str) -> partitions.TimeWindow:
        definition = None if self.partitions_def is None else self.partitions_def.snapshot
        if isinstance(definition, MultiPartitions):
            keys = partitions.dimension_keys(definition, key)
            for dimension in definition.dimensions:
                if isinstance(dimension.partitions, TimeWindowPartitions):
                    return partitions.time_window(dimension.partitions, keys[dimension.name])
        if isinstance(definition, TimeWindowPartitions):
            return partitions.time_window(definition, key)
        raise PartitionError(f"job {self.job_name!r}: partition {key!r} has no time window "
                             f"(its partitions are not daily, hourly, weekly or monthly)")

    @property
    def op_config(self) -> Mapping[str, Any]:
        ops = self.run_config.get("ops")
        # a copy of a mapped step ("process[a]") takes its op's config ("process")
        step = self.step_key.partition("[")[0]
        entry = ops.get(step) if isinstance(ops, Mapping) else None
        config = entry.get("config") if isinstance(entry, Mapping) else None
        return config if isinstance(config, Mapping) else _NO_CONFIG
