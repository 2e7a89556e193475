"""What a code location defines, as the wire snapshot the control plane stores."""

from __future__ import annotations

from ..wire import (
    AssetCheckSnapshot,
    AssetSnapshot,
    JobSnapshot,
    LocationSnapshot,
    OpInputSnapshot,
    OpNodeSnapshot,
    OpOutputSnapshot,
)
from ._config import run_config_schema
from ._definitions import Definitions
from ._graph import JobDefinition, Node
from ._outs import type_name


def snapshot_definitions(defs: Definitions, location_name: str) -> LocationSnapshot:
    return LocationSnapshot(
        location=location_name,
        jobs=[_job_snapshot(job) for job in defs.jobs.values()],
        assets=[
            AssetSnapshot(key=key, deps=list(asset.deps), description=asset.description,
                          key_path=list(asset.asset_key.path), group_name=asset.group_name,
                          owners=list(asset.owners), tags=asset.tags, kinds=list(asset.kinds),
                          code_version=asset.code_version, computed_by=asset.computed_by,
                          external=asset.external, checks=_checks(defs, key),
                          can_subset=asset.computed_by is not None
                          and defs.multi_assets[asset.computed_by].can_subset,
                          partitions=(asset.partitions_def.snapshot
                                      if asset.partitions_def is not None else None),
                          partition_mappings={key: mapping.snapshot for key, mapping
                                              in asset.partition_mappings.items()},
                          metadata=asset.metadata,
                          backfill_policy=(None if asset.backfill_policy is None
                                           else asset.backfill_policy.snapshot))
            for key, asset in defs.assets.items()
        ],
        schedules=[definition.snapshot for definition in defs.schedules.values()],
        sensors=[definition.snapshot for definition in defs.sensors.values()],
    )


def _checks(defs: Definitions, key: str) -> list[AssetCheckSnapshot]:
    """The asset's checks: those its own step reports on, then its ``@asset_check`` s."""
    asset = defs.assets[key]
    own_step = asset.computed_by or asset.asset_key.node_name
    return [
        *(AssetCheckSnapshot(name=spec.name, description=spec.description,
                             blocking=spec.blocking, additional_deps=list(spec.additional_deps),
                             step=own_step) for spec in asset.check_specs),
        *(AssetCheckSnapshot(name=check.name, description=check.spec.description,
                             blocking=check.spec.blocking,
                             additional_deps=list(check.spec.additional_deps),
                             step=check.node_name)
          for check in defs.asset_checks.get(key, ())),
    ]


def _job_snapshot(job: JobDefinition) -> JobSnapshot:
    return JobSnapshot(
        name=job.name, description=job.description, nodes=[_node_snapshot(n) for n in job.nodes],
        run_config_schema=run_config_schema(job), tags=dict(job.tags),
        partitions=job.partitions_def.snapshot if job.partitions_def is not None else None,
    )


def _node_snapshot(node: Node) -> OpNodeSnapshot:
    # every declared input, wired or not, then the value-less upstream of asset deps
    op = node.op
    inputs = []
    for name in op.wired_inputs:
        upstream, output = node.source(name) if name in node.inputs else (None, "result")
        declared = op.ins.get(name)
        inputs.append(OpInputSnapshot(
            name=name, from_node=upstream, from_output=output,
            nothing=name in op.nothing_inputs, collect=name in node.collects,
            type_name=type_name(declared.type if declared is not None else None)))
    inputs += [OpInputSnapshot(name=upstream, from_node=upstream, nothing=True)
               for upstream in node.after]
    return OpNodeSnapshot(
        name=node.name,
        op=op.name,
        description=op.description,
        inputs=inputs,
        asset_key=node.asset_key,
        io_manager_key=op.io_manager_key,
        outputs=[OpOutputSnapshot(name=name, type_name=type_name(out.type),
                                  description=out.description, is_required=out.is_required,
                                  io_manager_key=op.output_manager(name),
                                  dynamic=out.is_dynamic)
                 for name, out in op.outs.items()],
        mapped_over=node.mapped_over,
        tags=dict(op.tags),
        pool=op.pool,
        check_asset_key=None if node.check is None else node.check.key,
        check_name=None if node.check is None else node.check.name,
    )
