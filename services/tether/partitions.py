"""Partition keys, time windows and partition mappings, computed from the wire snapshots of
partitions definitions (:mod:`tether.wire`).

Pure: no I/O and no user code. The SDK's definitions, the executor (which upstream partitions
a step loads) and the control plane (launch checks, partition status, backfills) all ask
here, so a key means the same everywhere. Dynamic partitions' keys live in the control
plane's database; callers pass them in (``dynamic``: name -> keys).

Time windows are wall-clock windows in the definition's timezone: a daily partition is
midnight to midnight, 23 or 25 hours long on a DST change. An hourly key names a wall-clock
hour: the hour that does not exist when clocks spring forward has no partition, and the hour
that happens twice when they fall back is one partition two hours long.
"""

from __future__ import annotations

import bisect
import calendar
import functools
import itertools
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from .errors import PartitionError
from .wire import (
    AllMapping,
    DynamicPartitions,
    IdentityMapping,
    MultiPartitions,
    PartitionMappingSnapshot,
    PartitionsSnapshot,
    StaticPartitions,
    TimeWindowMapping,
    TimeWindowPartitions,
)

# the tags of a ranged run, one run of the consecutive partitions from the first to the last
# (a backfill of assets with a BackfillPolicy): it has these instead of a partition
RANGE_START_TAG = "tether/partition_range_start"
RANGE_END_TAG = "tether/partition_range_end"


def range_of(tags: Mapping[str, object]) -> tuple[str, str] | None:
    """The first and last partition of a ranged run, from its tags; None: not ranged."""
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if start is None or end is None:
        return None
    return str(start), str(end)


# joins the keys of a MultiPartitions' dimensions ("2026-12-01|eu")
MULTI_SEPARATOR = "|"
# the keys of each dynamic partitions definition, by name
DynamicKeys = Mapping[str, Sequence[str]]
NO_DYNAMIC: DynamicKeys = {}

_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


class TimeWindow(NamedTuple):
    """A partition's window: ``start`` included, ``end`` excluded (aware, in its timezone)."""

    start: datetime
    end: datetime


def partition_keys(definition: PartitionsSnapshot, *, now: float,
                   dynamic: DynamicKeys = NO_DYNAMIC) -> list[str]:
    """Every key of ``definition`` at ``now`` (epoch seconds), in order."""
    match definition:
        case TimeWindowPartitions():
            windows = _windows(definition)
            return windows.keys[:windows.count(now)]
        case StaticPartitions():
            return list(definition.keys)
        case DynamicPartitions():
            return list(dynamic.get(definition.name, ()))
        case MultiPartitions():
            dimensions = [partition_keys(d.partitions, now=now, dynamic=dynamic)
                          for d in definition.dimensions]
            return [MULTI_SEPARATOR.join(keys) for keys in itertools.product(*dimensions)]
    raise AssertionError(f"unknown partitions definition {definition!r}")


def partition_count(definition: PartitionsSnapshot, *, now: float,
                    dynamic: DynamicKeys = NO_DYNAMIC) -> int:
    match definition:
        case TimeWindowPartitions():
            return _windows(definition).count(now)
        case MultiPartitions():
            return functools.reduce(lambda total, d: total * partition_count(
                d.partitions, now=now, dynamic=dynamic), definition.dimensions, 1)
    return len(partition_keys(definition, now=now, dynamic=dynamic))


def key_index(definition: PartitionsSnapshot, key: str, *, now: float,
              dynamic: DynamicKeys = NO_DYNAMIC) -> int | None:
    """``key``'s position among the keys of ``definition`` at ``now``; None: not a key."""
    match definition:
        case TimeWindowPartitions():
            windows = _windows(definition)
            index = windows.find(key)
            return index if index is not None and index < windows.count(now) else None
        case StaticPartitions():
            return _static_index(definition).get(key)
        case DynamicPartitions():
            keys = dynamic.get(definition.name, ())
            return keys.index(key) if key in keys else None
        case MultiPartitions():
            parts = key.split(MULTI_SEPARATOR)
            if len(parts) != len(definition.dimensions):
                return None
            index = 0
            for part, dimension in zip(parts, definition.dimensions, strict=True):
                found = key_index(dimension.partitions, part, now=now, dynamic=dynamic)
                if found is None:
                    return None
                index = index * partition_count(dimension.partitions, now=now,
                                                dynamic=dynamic) + found
            return index
    raise AssertionError(f"unknown partitions definition {definition!r}")


def check_partition(definition: PartitionsSnapshot, key: str, *, now: float,
                    dynamic: DynamicKeys = NO_DYNAMIC, what: str) -> None:
    """Raise :class:`PartitionError` naming ``what`` (e.g. "job 'daily'") unless ``key`` is
    one of its partitions at ``now``."""
    if key_index(definition, key, now=now, dynamic=dynamic) is not None:
        return
    raise PartitionError(f"{what} has no partition {key!r}; its partitions: "
                         f"{describe(definition, now=now, dynamic=dynamic)}")


def describe(definition: PartitionsSnapshot, *, now: float,
             dynamic: DynamicKeys = NO_DYNAMIC) -> str:
    """The partitions in a few words, for errors and pages: "daily from 2026-01-01 to
    2026-12-02 (UTC, 336 keys)", "static: eu, us"."""
    match definition:
        case TimeWindowPartitions():
            keys = partition_keys(definition, now=now)
            span = f"{keys[0]} to {keys[-1]}" if keys else "none yet"
            unit = {"hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly"}
            return (f"{unit[definition.unit]} from {definition.start} ({span}, "
                    f"{definition.timezone}, {len(keys)} keys)")
        case StaticPartitions():
            return "static: " + _listed(definition.keys)
        case DynamicPartitions():
            keys = list(dynamic.get(definition.name, ()))
            return f"dynamic {definition.name!r}: " + _listed(keys)
        case MultiPartitions():
            return "the product of " + " and ".join(
                f"{d.name} ({describe(d.partitions, now=now, dynamic=dynamic)})"
                for d in definition.dimensions) + ", as keys joined by '|'"
    raise AssertionError(f"unknown partitions definition {definition!r}")


def _listed(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:10])
    return (shown + f", ... ({len(keys)} keys)" if len(keys) > 10 else shown) or "none yet"


def time_window(definition: TimeWindowPartitions, key: str) -> TimeWindow:
    """The window of partition ``key``. Raises PartitionError for a key that is not one."""
    windows = _windows(definition)
    index = windows.find(key)
    if index is None:
        raise PartitionError(f"{key!r} is not a partition key of {definition.unit}ly "
                             f"partitions from {definition.start} (key format "
                             f"{definition.fmt!r})")
    return windows.window(index)


def key_range(definition: PartitionsSnapshot, first: str, last: str, *, now: float,
              dynamic: DynamicKeys = NO_DYNAMIC) -> list[str]:
    """The keys from ``first`` to ``last``, both included, in the definition's order. Raises
    PartitionError when either is not a key or ``last`` comes before ``first``."""
    keys = partition_keys(definition, now=now, dynamic=dynamic)
    positions = []
    for key in (first, last):
        index = key_index(definition, key, now=now, dynamic=dynamic)
        if index is None:
            raise PartitionError(f"{key!r} is outside the partitions, "
                                 f"{describe(definition, now=now, dynamic=dynamic)}")
        positions.append(index)
    if positions[1] < positions[0]:
        raise PartitionError(f"the range {first!r} to {last!r} is empty: {last!r} comes "
                             f"before {first!r}")
    return keys[positions[0]:positions[1] + 1]


def dimension_keys(definition: MultiPartitions, key: str) -> dict[str, str]:
    """The key of each dimension in a multi-partition key, by dimension name."""
    parts = key.split(MULTI_SEPARATOR)
    if len(parts) != len(definition.dimensions):
        raise PartitionError(f"{key!r} is not a key of the partitions "
                             f"{', '.join(d.name for d in definition.dimensions)}: it joins "
                             f"one key per dimension with '|'")
    return {d.name: part for d, part in zip(definition.dimensions, parts, strict=True)}


def dynamic_names(definition: PartitionsSnapshot | None) -> list[str]:
    """The names of the dynamic partitions ``definition`` takes keys from."""
    match definition:
        case DynamicPartitions():
            return [definition.name]
        case MultiPartitions():
            return [name for d in definition.dimensions for name in dynamic_names(d.partitions)]
    return []


def default_mapping(downstream: PartitionsSnapshot | None,
                    upstream: PartitionsSnapshot) -> PartitionMappingSnapshot:
    """The mapping an asset has to a partitioned upstream it names none for: overlapping
    windows between two time-window definitions, the same key between two others, and every
    partition for an unpartitioned asset."""
    if downstream is None:
        return AllMapping()
    if isinstance(downstream, TimeWindowPartitions) and isinstance(upstream,
                                                                   TimeWindowPartitions):
        return TimeWindowMapping()
    return IdentityMapping()


def upstream_keys(mapping: PartitionMappingSnapshot | None, *,
                  downstream: PartitionsSnapshot | None, key: str | None,
                  upstream: PartitionsSnapshot, now: float,
                  dynamic: DynamicKeys = NO_DYNAMIC) -> list[str]:
    """The partitions of ``upstream`` that partition ``key`` of ``downstream`` reads (``key``
    None: the downstream is not partitioned, or runs unpartitioned). Raises PartitionError
    when a mapping cannot apply."""
    if mapping is None:
        mapping = default_mapping(downstream, upstream)
    if key is None or isinstance(mapping, AllMapping):
        return partition_keys(upstream, now=now, dynamic=dynamic)
    if isinstance(mapping, IdentityMapping):
        check_partition(upstream, key, now=now, dynamic=dynamic,
                        what="the upstream asset (identity partition mapping)")
        return [key]
    if not (isinstance(downstream, TimeWindowPartitions)
            and isinstance(upstream, TimeWindowPartitions)):
        raise PartitionError("a time-window partition mapping joins two time-window "
                             "partitions definitions (daily, hourly, weekly, monthly)")
    start, end = time_window(downstream, key)
    windows = _windows(upstream)
    windows.extend_to(end.timestamp())
    first = max(0, bisect.bisect_right(windows.starts, start.timestamp()) - 1)
    last = bisect.bisect_left(windows.starts, end.timestamp()) - 1
    first = max(0, first + mapping.start_offset)
    last = min(windows.count(now) - 1, last + mapping.end_offset)
    return windows.keys[first:last + 1]


def key_positions(definition: PartitionsSnapshot, *, now: float,
                  dynamic: DynamicKeys = NO_DYNAMIC) -> Mapping[str, int]:
    """Each key's position, as a mapping that may hold positions past the last key at
    ``now`` (compare them with :func:`partition_count`). A time-window or static
    definition's is built once and kept, so looking up 100,000 keys costs no enumeration."""
    match definition:
        case TimeWindowPartitions():
            windows = _windows(definition)
            windows.count(now)
            return windows.index
        case StaticPartitions():
            return _static_index(definition)
    keys = partition_keys(definition, now=now, dynamic=dynamic)
    return {key: index for index, key in enumerate(keys)}


# -- time windows ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _static_index(definition: StaticPartitions) -> dict[str, int]:
    return {key: index for index, key in enumerate(definition.keys)}


@functools.lru_cache(maxsize=64)
def _windows(definition: TimeWindowPartitions) -> _Windows:
    # one per definition, grown as time passes: enumerating 100,000 hourly keys takes a
    # while, and every status bar and launch check of the asset asks again
    return _Windows(definition)


class _Windows:
    """The windows of one time-window definition, enumerated from its first as far as asked:
    their wall-clock keys and their starts (epoch seconds)."""

    def __init__(self, definition: TimeWindowPartitions) -> None:
        self.definition = definition
        self.zone = ZoneInfo(definition.timezone)
        self.first = first_start(definition)
        self.keys: list[str] = []
        self.starts: list[float] = []
        self.index: dict[str, int] = {}
        # how many unit steps from the first start the enumeration has taken
        self._steps = 0
        self._lock = threading.Lock()

    def extend_to(self, timestamp: float) -> None:
        """Enumerate windows until one starts after ``timestamp``."""
        if self.starts and self.starts[-1] > timestamp:
            return
        with self._lock:
            definition, zone, fmt = self.definition, self.zone, self.definition.fmt
            hourly = definition.unit == "hour"
            while not self.starts or self.starts[-1] <= timestamp:
                wall = _advance(definition, self.first, self._steps)
                self._steps += 1
                if hourly and not _exists(wall, zone):
                    continue
                self.index[wall.strftime(fmt)] = len(self.keys)
                self.keys.append(wall.strftime(fmt))
                self.starts.append(wall.replace(tzinfo=zone).timestamp())

    def count(self, now: float) -> int:
        """How many partitions exist at ``now``: the complete windows, plus end_offset."""
        self.extend_to(now)
        started = bisect.bisect_right(self.starts, now)
        count = max(0, started - 1 + self.definition.end_offset)
        self._extend_count(count + 1)
        return count

    def _extend_count(self, count: int) -> None:
        while len(self.starts) < count:
            self.extend_to(self.starts[-1])

    def find(self, key: str) -> int | None:
        """The index of ``key`` (however far in the future), or None."""
        found = self.index.get(key)
        if found is not None:
            return found
        try:
            wall = datetime.strptime(key, self.definition.fmt)
        except ValueError:
            return None
        self.extend_to(wall.replace(tzinfo=self.zone).timestamp())
        return self.index.get(key)

    def window(self, index: int) -> TimeWindow:
        self._extend_count(index + 2)
        return TimeWindow(datetime.fromtimestamp(self.starts[index], self.zone),
                          datetime.fromtimestamp(self.starts[index + 1], self.zone))


def first_start(definition: TimeWindowPartitions) -> datetime:
    """The wall-clock start of the first window: the first window start at or after the
    definition's ``start``."""
    start = datetime.fromisoformat(definition.start)
    if start.tzinfo is not None:
        start = start.astimezone(ZoneInfo(definition.timezone)).replace(tzinfo=None)
    minute, hour, day = definition.minute_offset, definition.hour_offset, definition.day_offset
    match definition.unit:
        case "hour":
            aligned = start.replace(minute=minute, second=0, microsecond=0)
        case "day":
            aligned = start.replace(hour=hour, minute=minute, second=0, microsecond=0)
        case "week":
            # Python counts weekdays from Monday (0), cron and Dagster from Sunday (0)
            back = ((start.weekday() + 1) % 7 - day) % 7
            aligned = (start - timedelta(days=back)).replace(hour=hour, minute=minute,
                                                             second=0, microsecond=0)
        case "month":
            aligned = start.replace(day=day or 1, hour=hour, minute=minute, second=0,
                                    microsecond=0)
    while aligned < start:
        aligned = _advance(definition, aligned, 1)
    return aligned


def _advance(definition: TimeWindowPartitions, wall: datetime, steps: int) -> datetime:
    if definition.unit != "month":
        return wall + _STEP[definition.unit] * steps
    months = wall.year * 12 + wall.month - 1 + steps
    year, month = divmod(months, 12)
    day = min(wall.day, calendar.monthrange(year, month + 1)[1])
    return wall.replace(year=year, month=month + 1, day=day)


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    """Whether the wall-clock time happens in ``zone`` (not skipped by a spring-forward)."""
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall
