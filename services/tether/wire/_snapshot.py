"""What a code location defines, as the code server reports it and the control plane stores it."""

from __future__ import annotations

from typing import Any

import msgspec

from ._automation import ScheduleSnapshot, SensorSnapshot


class OpInputSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    # the node whose output feeds this input; None for an input with no upstream
    from_node: str | None = None


class OpNodeSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    op: str
    description: str = ""
    inputs: list[OpInputSnapshot] = []
    # the asset this node materializes, for asset jobs
    asset_key: str | None = None
    # the resource that stores the node's output; None: kept in its run's memory only, so a
    # re-execution that needs it runs the node again
    io_manager_key: str | None = "io_manager"


class JobSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    description: str = ""
    nodes: list[OpNodeSnapshot] = []
    # JSON Schema of the job's run config (from its ops' Config types); empty: no config
    run_config_schema: dict[str, Any] = {}


class AssetSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    key: str
    deps: list[str] = []
    description: str = ""


class LocationSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    location: str
    jobs: list[JobSnapshot] = []
    assets: list[AssetSnapshot] = []
    schedules: list[ScheduleSnapshot] = []
    sensors: list[SensorSnapshot] = []

    def job(self, name: str) -> JobSnapshot | None:
        return next((job for job in self.jobs if job.name == name), None)
