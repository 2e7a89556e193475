"""Partitions definitions and partition mappings as a code location reports them, so the control
plane can enumerate an asset's or a job's partition keys without the user's code
(:mod:`tether.partitions` does the enumerating)."""

from __future__ import annotations

from typing import Literal

import msgspec

PartitionUnit = Literal["hour", "day", "week", "month"]


class TimeWindowPartitions(msgspec.Struct, kw_only=True, frozen=True, tag="time_window"):
    """One partition per ``unit`` of wall-clock time in ``timezone``, from ``start`` (an ISO
    wall-clock date-time, aligned to the first window start at or after it). ``end_offset``
    adds partitions past the last complete window (1: the window in progress too). Each
    window starts ``minute_offset`` minutes and ``hour_offset`` hours into its unit, and
    ``day_offset`` days into its week (0: Sunday) or month (1: the first)."""

    unit: PartitionUnit
    start: str
    # strftime format of the keys, applied to a window's wall-clock start
    fmt: str
    timezone: str = "UTC"
    end_offset: int = 0
    minute_offset: int = 0
    hour_offset: int = 0
    day_offset: int = 0


class StaticPartitions(msgspec.Struct, kw_only=True, frozen=True, tag="static"):
    keys: tuple[str, ...] = ()


class DynamicPartitions(msgspec.Struct, kw_only=True, frozen=True, tag="dynamic"):
    """Keys kept by the control plane under ``name``, added and removed at run time (by a
    sensor, the API or the CLI)."""

    name: str


DimensionPartitions = TimeWindowPartitions | StaticPartitions | DynamicPartitions


class PartitionDimension(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    partitions: DimensionPartitions


class MultiPartitions(msgspec.Struct, kw_only=True, frozen=True, tag="multi"):
    """The product of two definitions; a key joins one key of each dimension with "|", in the
    order of the dimensions (sorted by name)."""

    dimensions: tuple[PartitionDimension, ...] = ()


PartitionsSnapshot = TimeWindowPartitions | StaticPartitions | DynamicPartitions | MultiPartitions


class IdentityMapping(msgspec.Struct, kw_only=True, frozen=True, tag="identity"):
    """A downstream partition reads the upstream partition of the same key."""


class TimeWindowMapping(msgspec.Struct, kw_only=True, frozen=True, tag="time_window"):
    """A downstream partition reads the upstream partitions whose windows overlap its own,
    widened by ``start_offset`` and ``end_offset`` upstream partitions (-1, 0: the previous
    one too)."""

    start_offset: int = 0
    end_offset: int = 0


class AllMapping(msgspec.Struct, kw_only=True, frozen=True, tag="all"):
    """A downstream partition (or an unpartitioned asset) reads every upstream partition."""


PartitionMappingSnapshot = IdentityMapping | TimeWindowMapping | AllMapping


class BackfillPolicySnapshot(msgspec.Struct, kw_only=True, frozen=True):
    """How a backfill runs an asset's partitions: in runs of up to ``max_partitions_per_run``
    consecutive partitions each (None: one run for the whole range)."""

    max_partitions_per_run: int | None = None


class AddDynamicPartitions(msgspec.Struct, kw_only=True, frozen=True, tag="add"):
    """A tick's request to add ``keys`` to dynamic partitions ``name`` (present keys stay)."""

    name: str
    keys: list[str] = []


class DeleteDynamicPartitions(msgspec.Struct, kw_only=True, frozen=True, tag="delete"):
    name: str
    keys: list[str] = []


DynamicPartitionsRequest = AddDynamicPartitions | DeleteDynamicPartitions
