"""Materializing a selection of assets: which job of their location runs them, and which of
its steps.

The control plane has only the location's snapshot, never its code, so a selection is run as a
step selection of an asset job that has a step for each selected asset: the smallest such job.
Its steps are the selected assets' own, and the steps they take a value from that materialize
no asset (a multi-asset's step, the ops inside a graph asset). Upstream assets left out are
loaded from their latest stored materialization, as in any asset job.
"""

from __future__ import annotations

from collections.abc import Sequence

from tether.wire import JobSnapshot

from ..errors import BadInput
from ._records import LocationRecord

# the keys an error lists at most
_NAMED = 20


def _listed(keys: Sequence[str]) -> str:
    shown = ", ".join(map(repr, keys[:_NAMED]))
    return shown + (f" and {len(keys) - _NAMED} more" if len(keys) > _NAMED else "")


def plan_materialization(record: LocationRecord, asset_keys: Sequence[str]
                         ) -> tuple[JobSnapshot, list[str]]:
    """The job and the step selection that materialize exactly ``asset_keys``. Raises
    BadInput naming the keys that are unknown, produced outside Tether, part of a
    multi-asset that cannot be split, or that no one job materializes together."""
    where = f"code location {record.name!r}"
    if record.snapshot is None:
        raise BadInput(f"{where} is not loaded yet; materialize once its load has finished")
    wanted = list(dict.fromkeys(asset_keys))
    if not wanted:
        raise BadInput("select at least one asset to materialize")
    assets = {asset.key: asset for asset in record.snapshot.assets}
    unknown = [key for key in wanted if key not in assets]
    if unknown:
        raise BadInput(f"{where} has no asset {_listed(unknown)}; its assets: "
                       f"{_listed(sorted(assets))}")
    external = [key for key in wanted if assets[key].external]
    if external:
        raise BadInput(f"{_listed(external)} {'is' if len(external) == 1 else 'are'} produced "
                       "outside Tether: no run materializes them; leave them out")
    chosen = set(wanted)
    for key in wanted:
        multi = assets[key].computed_by
        together = [a.key for a in assets.values() if a.computed_by == multi]
        left_out = [other for other in together if other not in chosen]
        if multi is not None and left_out and not assets[key].can_subset:
            raise BadInput(f"the multi-asset {multi!r} materializes {_listed(together)} "
                           f"together (can_subset=False); the selection leaves out "
                           f"{_listed(left_out)}: select all of them, or none")
    covering = [job for job in record.snapshot.jobs
                if chosen <= {node.asset_key for node in job.nodes if node.asset_key}]
    if not covering:
        raise BadInput(f"no job of {where} materializes {_listed(wanted)} together; define "
                       "an asset job over them (define_asset_job(\"all\") selects every "
                       "asset)")
    job = min(covering, key=lambda found: (len(found.nodes), found.name))
    return job, _steps(job, chosen)


def _steps(job: JobSnapshot, chosen: set[str]) -> list[str]:
    """The chosen assets' steps and, upstream of them, the steps that materialize no asset,
    in the job's order."""
    by_name = {node.name: node for node in job.nodes}
    needed: set[str] = set()
    stack = [node.name for node in job.nodes if node.asset_key in chosen]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        stack.extend(upstream.from_node for upstream in by_name[name].inputs
                     if upstream.from_node and upstream.from_node in by_name
                     and by_name[upstream.from_node].asset_key is None)
    return [node.name for node in job.nodes if node.name in needed]
