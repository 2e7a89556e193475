"""Partitions definitions and partition mappings as the user declares them.

Each definition is its wire snapshot (what the control plane stores) plus checks of the
user's arguments; enumerating keys and windows is :mod:`tether.partitions`'s, shared with
the control plane.

    @asset(partitions_def=DailyPartitionsDefinition("2026-01-01", timezone="Europe/Paris"))
    def events(context): ...                      # context.partition_key == "2026-03-29"
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import partitions as _keys
from ..errors import DefinitionError
from ..wire import (
    AddDynamicPartitions,
    AllMapping,
    DeleteDynamicPartitions,
    DynamicPartitions,
    IdentityMapping,
    MultiPartitions,
    PartitionDimension,
    PartitionMappingSnapshot,
    PartitionsSnapshot,
    PartitionUnit,
    StaticPartitions,
    TimeWindowMapping,
    TimeWindowPartitions,
)

TimeWindow = _keys.TimeWindow


class PartitionKeyRange(NamedTuple):
    """The first and last partition keys a run covers (the same key for a run of one)."""

    start: str
    end: str

# characters a key may not hold: "|" joins multi-partition keys, "/" would nest stored files,
# and the status query joins keys with newlines
_RESERVED = ("|", "/", "\0", "\n")


class PartitionsDefinition:
    """Base of every partitions definition: ``snapshot`` is what the control plane sees."""

    __slots__ = ("snapshot",)

    snapshot: PartitionsSnapshot

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PartitionsDefinition) and other.snapshot == self.snapshot

    def __hash__(self) -> int:
        return hash(self.snapshot)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_keys.describe(self.snapshot, now=time.time())})"

    def get_partition_keys(self, current_time: datetime | None = None,
                           dynamic_partitions: Mapping[str, Sequence[str]] | None = None
                           ) -> list[str]:
        """The keys at ``current_time`` (default: now); a dynamic definition's keys are the
        control plane's, given here as ``dynamic_partitions`` (name -> keys)."""
        now = (current_time or datetime.now().astimezone()).timestamp()
        return _keys.partition_keys(self.snapshot, now=now, dynamic=dynamic_partitions or {})


class TimeWindowPartitionsDefinition(PartitionsDefinition):
    """One partition per hour, day, week or month of wall-clock time in ``timezone``."""

    __slots__ = ()

    def __init__(self, *, unit: PartitionUnit, start: str | date | datetime, fmt: str,
                 timezone: str = "UTC", end_offset: int = 0, minute_offset: int = 0,
                 hour_offset: int = 0, day_offset: int = 0) -> None:
        what = f"{unit}ly partitions"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise DefinitionError(f"{what}: unknown timezone {timezone!r}; give an IANA "
                                  f"name such as 'UTC' or 'Europe/Paris'") from None
        for name, value, low, high in (("minute_offset", minute_offset, 0, 59),
                                       ("hour_offset", hour_offset, 0, 23)):
            if not low <= value <= high:
                raise DefinitionError(f"{what}: {name} must be {low} to {high}, got {value}")
        if unit == "week" and not 0 <= day_offset <= 6:
            raise DefinitionError(f"{what}: day_offset is the weekday (0 Sunday to 6 "
                                  f"Saturday), got {day_offset}")
        if unit == "month" and not 1 <= day_offset <= 28:
            raise DefinitionError(f"{what}: day_offset is the day of the month (1 to 28), "
                                  f"got {day_offset}")
        if not isinstance(end_offset, int) or end_offset < 0:
            raise DefinitionError(f"{what}: end_offset counts partitions past the last "
                                  f"complete window (0 or more), got {end_offset!r}")
        self.snapshot = TimeWindowPartitions(
            unit=unit, start=_start_text(start, what), fmt=fmt, timezone=timezone,
            end_offset=end_offset, minute_offset=minute_offset, hour_offset=hour_offset,
            day_offset=day_offset)
        _keys.first_start(self.snapshot)

    @property
    def timezone(self) -> str:
        return self.snapshot.timezone  # type: ignore[union-attr]

    def time_window_for_partition_key(self, key: str) -> TimeWindow:
        assert isinstance(self.snapshot, TimeWindowPartitions)
        return _keys.time_window(self.snapshot, key)


def _start_text(start: str | date | datetime, what: str) -> str:
    if isinstance(start, datetime):
        return start.replace(tzinfo=None).isoformat()
    if isinstance(start, date):
        return datetime(start.year, start.month, start.day).isoformat()
    try:
        return datetime.fromisoformat(start).replace(tzinfo=None).isoformat()
    except (TypeError, ValueError):
        raise DefinitionError(f"{what}: start {start!r} is not a date (give '2026-01-01', "
                              f"'2026-01-01 06:00' or a date/datetime)") from None


class HourlyPartitionsDefinition(TimeWindowPartitionsDefinition):
    """Keys like ``2026-12-01-13:00``."""

    __slots__ = ()

    def __init__(self, start_date: str | date | datetime, *, timezone: str = "UTC",
                 end_offset: int = 0, minute_offset: int = 0,
                 fmt: str = "%Y-%m-%d-%H:%M") -> None:
        super().__init__(unit="hour", start=start_date, fmt=fmt, timezone=timezone,
                         end_offset=end_offset, minute_offset=minute_offset)


class DailyPartitionsDefinition(TimeWindowPartitionsDefinition):
    """Keys like ``2026-12-01``."""

    __slots__ = ()

    def __init__(self, start_date: str | date | datetime, *, timezone: str = "UTC",
                 end_offset: int = 0, minute_offset: int = 0, hour_offset: int = 0,
                 fmt: str = "%Y-%m-%d") -> None:
        super().__init__(unit="day", start=start_date, fmt=fmt, timezone=timezone,
                         end_offset=end_offset, minute_offset=minute_offset,
                         hour_offset=hour_offset)


class WeeklyPartitionsDefinition(TimeWindowPartitionsDefinition):
    """Keys like ``2026-11-29``, the date a week starts (``day_offset`` 0: Sunday)."""

    __slots__ = ()

    def __init__(self, start_date: str | date | datetime, *, timezone: str = "UTC",
                 end_offset: int = 0, minute_offset: int = 0, hour_offset: int = 0,
                 day_offset: int = 0, fmt: str = "%Y-%m-%d") -> None:
        super().__init__(unit="week", start=start_date, fmt=fmt, timezone=timezone,
                         end_offset=end_offset, minute_offset=minute_offset,
                         hour_offset=hour_offset, day_offset=day_offset)


class MonthlyPartitionsDefinition(TimeWindowPartitionsDefinition):
    """Keys like ``2026-12-01``, the date a month starts (``day_offset``: its day)."""

    __slots__ = ()

    def __init__(self, start_date: str | date | datetime, *, timezone: str = "UTC",
                 end_offset: int = 0, minute_offset: int = 0, hour_offset: int = 0,
                 day_offset: int = 1, fmt: str = "%Y-%m-%d") -> None:
        super().__init__(unit="month", start=start_date, fmt=fmt, timezone=timezone,
                         end_offset=end_offset, minute_offset=minute_offset,
                         hour_offset=hour_offset, day_offset=day_offset)


class StaticPartitionsDefinition(PartitionsDefinition):
    """A fixed list of keys (regions, customers)."""

    __slots__ = ()

    def __init__(self, partition_keys: Sequence[str]) -> None:
        if isinstance(partition_keys, str):
            raise DefinitionError(f"static partitions take a list of keys, got the string "
                                  f"{partition_keys!r}")
        keys = tuple(partition_keys)
        for key in keys:
            _check_key(key, "static partitions")
        doubled = sorted({key for key in keys if keys.count(key) > 1})
        if doubled:
            raise DefinitionError(f"static partitions: keys must be unique; "
                                  f"{', '.join(map(repr, doubled))} appear more than once")
        self.snapshot = StaticPartitions(keys=keys)


def _check_key(key: object, what: str) -> str:
    if not isinstance(key, str) or not key or any(c in key for c in _RESERVED):
        raise DefinitionError(f"{what}: a partition key is a non-empty string without "
                              f"'|' or '/', got {key!r}")
    return key


class DynamicPartitionsDefinition(PartitionsDefinition):
    """Keys kept by the control plane under ``name``: a sensor adds them
    (``SensorResult(dynamic_partitions_requests=[defn.build_add_request([...])])``), and so
    do the API and ``tether partitions add NAME KEY``."""

    __slots__ = ()

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(f"dynamic partitions need a name, got {name!r}")
        self.snapshot = DynamicPartitions(name=name)

    @property
    def name(self) -> str:
        return self.snapshot.name  # type: ignore[union-attr]

    def build_add_request(self, partition_keys: Iterable[str]) -> AddDynamicPartitionsRequest:
        return AddDynamicPartitionsRequest(self.name, partition_keys)

    def build_delete_request(self, partition_keys: Iterable[str]
                             ) -> DeleteDynamicPartitionsRequest:
        return DeleteDynamicPartitionsRequest(self.name, partition_keys)


class MultiPartitionsDefinition(PartitionsDefinition):
    """Two dimensions, e.g. ``{"date": DailyPartitionsDefinition(...), "region":
    StaticPartitionsDefinition(["eu", "us"])}``; a key joins one key of each, in the order
    of the dimension names: ``"2026-12-01|eu"``."""

    __slots__ = ()

    def __init__(self, partitions_defs: Mapping[str, PartitionsDefinition]) -> None:
        if len(partitions_defs) != 2:
            raise DefinitionError(f"multi partitions take exactly two dimensions, got "
                                  f"{len(partitions_defs)}: {', '.join(partitions_defs)}")
        dimensions = []
        for name in sorted(partitions_defs):
            definition = partitions_defs[name]
            if not isinstance(definition, PartitionsDefinition) or isinstance(
                    definition, MultiPartitionsDefinition):
                raise DefinitionError(f"multi partitions: dimension {name!r} must be a "
                                      f"time-window, static or dynamic partitions "
                                      f"definition, got {definition!r}")
            snapshot = definition.snapshot
            assert not isinstance(snapshot, MultiPartitions)
            dimensions.append(PartitionDimension(name=name, partitions=snapshot))
        self.snapshot = MultiPartitions(dimensions=tuple(dimensions))


def multi_partition_keys(key: str, definition: MultiPartitionsDefinition) -> dict[str, str]:
    """The key of each dimension in ``key``, by dimension name."""
    assert isinstance(definition.snapshot, MultiPartitions)
    return _keys.dimension_keys(definition.snapshot, key)


def check_partitions_def(value: object, where: str) -> PartitionsDefinition | None:
    if value is None or isinstance(value, PartitionsDefinition):
        return value
    raise DefinitionError(f"{where}: partitions_def must be a partitions definition (e.g. "
                          f"DailyPartitionsDefinition('2026-01-01')), got {value!r}")


# -- mappings ----------------------------------------------------------------------------------


class PartitionMapping:
    """How the partitions of an asset read the partitions of one upstream asset."""

    __slots__ = ("snapshot",)

    snapshot: PartitionMappingSnapshot

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class IdentityPartitionMapping(PartitionMapping):
    """Partition ``k`` reads upstream partition ``k``."""

    __slots__ = ()

    def __init__(self) -> None:
        self.snapshot = IdentityMapping()


class TimeWindowPartitionMapping(PartitionMapping):
    """A window reads the upstream windows that overlap it, widened by ``start_offset`` and
    ``end_offset`` upstream partitions (``start_offset=-1``: the previous one as well)."""

    __slots__ = ()

    def __init__(self, start_offset: int = 0, end_offset: int = 0) -> None:
        self.snapshot = TimeWindowMapping(start_offset=start_offset, end_offset=end_offset)


class AllPartitionMapping(PartitionMapping):
    """Every partition reads every upstream partition (as a dict by key)."""

    __slots__ = ()

    def __init__(self) -> None:
        self.snapshot = AllMapping()


# -- dynamic partition requests (from sensors) -------------------------------------------------


class AddDynamicPartitionsRequest:
    """Add ``partition_keys`` to the dynamic partitions ``partitions_def_name``."""

    __slots__ = ("partition_keys", "partitions_def_name")

    def __init__(self, partitions_def_name: str, partition_keys: Iterable[str]) -> None:
        self.partitions_def_name = partitions_def_name
        self.partition_keys = [_check_key(key, f"dynamic partitions {partitions_def_name!r}")
                               for key in partition_keys]

    @property
    def snapshot(self) -> AddDynamicPartitions | DeleteDynamicPartitions:
        return AddDynamicPartitions(name=self.partitions_def_name, keys=self.partition_keys)


class DeleteDynamicPartitionsRequest(AddDynamicPartitionsRequest):
    """Delete ``partition_keys`` from the dynamic partitions ``partitions_def_name``."""

    __slots__ = ()

    @property
    def snapshot(self) -> AddDynamicPartitions | DeleteDynamicPartitions:
        return DeleteDynamicPartitions(name=self.partitions_def_name, keys=self.partition_keys)
