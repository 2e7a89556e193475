"""What a code location defines, as the code server reports it and the control plane stores it."""

from __future__ import annotations

from typing import Any

import msgspec

from ._automation import ScheduleSnapshot, SensorSnapshot
from ._metadata import MetadataValue
from ._partitions import BackfillPolicySnapshot, PartitionMappingSnapshot, PartitionsSnapshot


class OpInputSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    # the node whose output feeds this input; None for an input with no upstream
    from_node: str | None = None
    # which output of from_node it reads
    from_output: str = "result"
    # an ordering-only input (In(Nothing), or an asset's deps=): it loads no value
    nothing: bool = False
    type_name: str = "Any"
    # gathers the values of every copy of a mapped step (.collect())
    collect: bool = False


class OpOutputSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    type_name: str = "Any"
    description: str = ""
    # an optional output may be left out; the steps that take it are then skipped
    is_required: bool = True
    # the resource that stores it; None: kept in its run's memory only
    io_manager_key: str | None = "io_manager"
    # a DynamicOut: its values and their mapping keys are decided at run time
    dynamic: bool = False


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
    # the op's @op(tags=...)
    tags: dict[str, str] = {}
    # the op's concurrency pool (@op(pool=...)); None: none
    pool: str | None = None
    # the node's outputs; empty in snapshots from before named outputs (then one, "result",
    # stored by io_manager_key)
    outputs: list[OpOutputSnapshot] = []
    # the step with a DynamicOut this node is mapped over: it runs as copies "name[key]"
    mapped_over: str | None = None
    # for the step of an @asset_check: the asset it checks and the check's name
    check_asset_key: str | None = None
    check_name: str | None = None

    def output_manager(self, output: str) -> str | None:
        """The resource that stores ``output`` (None: not stored)."""
        found = next((o for o in self.outputs if o.name == output), None)
        return self.io_manager_key if found is None else found.io_manager_key


class JobSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    description: str = ""
    nodes: list[OpNodeSnapshot] = []
    # JSON Schema of the job's run config (from its ops' Config types); empty: no config
    run_config_schema: dict[str, Any] = {}
    # @job(tags=...): every run of the job gets them, unless its launch sets the same key
    tags: dict[str, str] = {}
    # each run of the job is of one of these partitions; None: the job is not partitioned
    partitions: PartitionsSnapshot | None = None


class AssetCheckSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    """A check of an asset: run after the asset, in the runs that materialize it."""

    name: str
    description: str = ""
    # a failed ERROR check fails its step, and the asset's downstream steps do not run
    blocking: bool = False
    # other assets it reads (their keys)
    additional_deps: list[str] = []
    # the step that evaluates it: its own, or the asset's (a check spec of the asset)
    step: str = ""


class AssetSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    # the key's string form, its parts joined by "/" ("warehouse/orders"); deps likewise
    key: str
    deps: list[str] = []
    description: str = ""
    # the key's parts; empty in snapshots from before multi-part keys (then key is one part)
    key_path: list[str] = []
    group_name: str = "default"
    owners: list[str] = []
    tags: dict[str, str] = {}
    kinds: list[str] = []
    code_version: str | None = None
    # the step of the multi-asset that computes it along with others; None: its own step
    computed_by: str | None = None
    # produced outside Tether: shown in the lineage, never materialized here
    external: bool = False
    # its checks, by name
    checks: list[AssetCheckSnapshot] = []
    # of a multi-asset declared can_subset=True: a run may materialize it without the
    # multi-asset's other assets
    can_subset: bool = False
    # None: not partitioned
    partitions: PartitionsSnapshot | None = None
    # how its partitions read the partitions of an upstream asset, by upstream key; absent:
    # the default (tether.partitions.default_mapping)
    partition_mappings: dict[str, PartitionMappingSnapshot] = {}
    # what its definition says about it (@asset(metadata=...)), by label, typed as a
    # materialization's metadata is
    metadata: dict[str, MetadataValue] = {}
    # how a backfill runs its partitions; None: a run per partition
    backfill_policy: BackfillPolicySnapshot | None = None

    @property
    def path(self) -> list[str]:
        return self.key_path or self.key.split("/")


class LocationSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    location: str
    jobs: list[JobSnapshot] = []
    assets: list[AssetSnapshot] = []
    schedules: list[ScheduleSnapshot] = []
    sensors: list[SensorSnapshot] = []

    def job(self, name: str) -> JobSnapshot | None:
        return next((job for job in self.jobs if job.name == name), None)
