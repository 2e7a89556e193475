"""Dagster's partitions forms over Tether's: the time-window definitions with Dagster's
positional order and None defaults, ``TimeWindowPartitionMapping`` and
``DynamicPartitionsDefinition``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .. import sdk
from ._errors import refuse

# time-window partitions: Dagster's positional order and None defaults
_WINDOW = {"end_date": "leave the partitions open-ended (Tether's end at the current time, "
                      "or end_offset= later)",
           "exclusions": "skip the excluded partitions in the schedule's or sensor's function"}

def _window(owner: str, end_date: Any, exclusions: Any, timezone: str | None,
            fmt: str | None, default_fmt: str) -> dict[str, Any]:
    refuse(owner, {"end_date": end_date, "exclusions": exclusions}, _WINDOW)
    return {"timezone": timezone or "UTC", "fmt": fmt or default_fmt}

class HourlyPartitionsDefinition(sdk.HourlyPartitionsDefinition):
    """Dagster's ``HourlyPartitionsDefinition``."""

    __slots__ = ()

    def __init__(self, start_date: datetime | str, end_date: datetime | str | None = None,
                 minute_offset: int = 0, timezone: str | None = None, fmt: str | None = None,
                 end_offset: int = 0, exclusions: Sequence[Any] | None = None) -> None:
        super().__init__(start_date, minute_offset=minute_offset, end_offset=end_offset,
                         **_window("HourlyPartitionsDefinition", end_date, exclusions,
                                   timezone, fmt, "%Y-%m-%d-%H:%M"))

class DailyPartitionsDefinition(sdk.DailyPartitionsDefinition):
    """Dagster's ``DailyPartitionsDefinition``."""

    __slots__ = ()

    def __init__(self, start_date: datetime | str, end_date: datetime | str | None = None,
                 minute_offset: int = 0, hour_offset: int = 0, timezone: str | None = None,
                 fmt: str | None = None, end_offset: int = 0,
                 exclusions: Sequence[Any] | None = None) -> None:
        super().__init__(start_date, minute_offset=minute_offset, hour_offset=hour_offset,
                         end_offset=end_offset,
                         **_window("DailyPartitionsDefinition", end_date, exclusions,
                                   timezone, fmt, "%Y-%m-%d"))

class WeeklyPartitionsDefinition(sdk.WeeklyPartitionsDefinition):
    """Dagster's ``WeeklyPartitionsDefinition``."""

    __slots__ = ()

    def __init__(self, start_date: datetime | str, end_date: datetime | str | None = None,
                 minute_offset: int = 0, hour_offset: int = 0, day_offset: int = 0,
                 timezone: str | None = None, fmt: str | None = None, end_offset: int = 0,
                 exclusions: Sequence[Any] | None = None) -> None:
        super().__init__(start_date, minute_offset=minute_offset, hour_offset=hour_offset,
                         day_offset=day_offset, end_offset=end_offset,
                         **_window("WeeklyPartitionsDefinition", end_date, exclusions,
                                   timezone, fmt, "%Y-%m-%d"))

class MonthlyPartitionsDefinition(sdk.MonthlyPartitionsDefinition):
    """Dagster's ``MonthlyPartitionsDefinition``."""

    __slots__ = ()

    def __init__(self, start_date: datetime | str, end_date: datetime | str | None = None,
                 minute_offset: int = 0, hour_offset: int = 0, day_offset: int = 1,
                 timezone: str | None = None, fmt: str | None = None, end_offset: int = 0,
                 exclusions: Sequence[Any] | None = None) -> None:
        super().__init__(start_date, minute_offset=minute_offset, hour_offset=hour_offset,
                         day_offset=day_offset, end_offset=end_offset,
                         **_window("MonthlyPartitionsDefinition", end_date, exclusions,
                                   timezone, fmt, "%Y-%m-%d"))

class TimeWindowPartitionMapping(sdk.TimeWindowPartitionMapping):
    """Dagster's ``TimeWindowPartitionMapping``."""

    __slots__ = ()

    def __init__(self, start_offset: int = 0, end_offset: int = 0,
                 allow_nonexistent_upstream_partitions: bool = False) -> None:
        refuse("TimeWindowPartitionMapping", {
            "allow_nonexistent_upstream_partitions": allow_nonexistent_upstream_partitions},
            {"allow_nonexistent_upstream_partitions": "start the downstream asset's "
             "partitions no earlier than the upstream's"})
        super().__init__(start_offset, end_offset)

class DynamicPartitionsDefinition(sdk.DynamicPartitionsDefinition):
    """Dagster's ``DynamicPartitionsDefinition``: named partitions added and deleted by
    sensors (``partition_fn`` is not supported)."""

    __slots__ = ()

    def __init__(self, partition_fn: Any = None, name: str | None = None) -> None:
        refuse("DynamicPartitionsDefinition", {"partition_fn": partition_fn}, {
            "partition_fn": "give name= and add the partitions from a sensor "
                            "(SensorResult(dynamic_partitions_requests=[...]))"})
        super().__init__(name)  # type: ignore[arg-type]
