"""What a code location defines, as the wire snapshot the control plane stores."""

from __future__ import annotations

from ..wire import (
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
                          external=asset.external,
                          partitions=(asset.partitions_def.snapshot
                                      if asset.partitions_def is not None else None),
                          partition_mappings={key: mapping.snapshot for key, mapping
                                              in asset.partition_mappings.items()})
            for key, asset in defs.assets.items()
        ],
        schedules=[definition.snapshot for definition in defs.schedules.values()],
        sensors=[definition.snapshot for definition in defs.sensors.values()],
    )


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
    )
