"""Op concurrency pools, granted at the run level by the run queue.

An op declares ``@op(pool="warehouse")``; the control plane's ``TETHER_POOL_LIMITS``
(``{"warehouse": 2}``) caps how many runs that execute a step of the pool are in progress at
once, across every run of every job (a pool without a limit is unlimited). When a run is
planned, the control plane reads the pooled steps it will execute from the job's snapshot
(its step selection, when it has one) and records them as system tags,
``tether/pool/warehouse = "load,store"``; the run queue then admits the run only when each of
its pools has a free slot, and the run holds that slot until it ends. A waiting run's reason
names the pool, its limit and the steps that wait.

Why the run level: a run worker holds no control-plane credential, and its broker user may
only append to the outbound streams (see ``tether.broker._acl``), so it cannot ask for a slot
before a step and read the answer. Granting slots when the run is admitted needs nothing from
the run worker; the price is that a run holds its pools for its whole duration, not just
while its pooled steps execute.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tether.wire import JobSnapshot

POOL_TAG_PREFIX = "tether/pool/"


def pool_tags(job: JobSnapshot, step_selection: Collection[str] | None) -> dict[str, str]:
    """The system tags naming the pooled steps a run of ``job`` executes, by pool."""
    steps: dict[str, list[str]] = {}
    for node in job.nodes:
        if node.pool and (step_selection is None or node.name in step_selection):
            steps.setdefault(node.pool, []).append(node.name)
    return {POOL_TAG_PREFIX + pool: ",".join(names) for pool, names in steps.items()}


def with_pool_tags(tags: Mapping[str, Any], job: JobSnapshot,
                   step_selection: Collection[str] | None) -> dict[str, Any]:
    """``tags`` with the run's pool tags, computed here only: a launch cannot set them (it
    would take, or dodge, a pool's slot)."""
    kept = {key: value for key, value in tags.items() if not key.startswith(POOL_TAG_PREFIX)}
    return {**kept, **pool_tags(job, step_selection)}


def pools_of(tags: Mapping[str, Any]) -> dict[str, str]:
    """The pools a run uses, each with its steps (comma-separated)."""
    return {key.removeprefix(POOL_TAG_PREFIX): str(value) for key, value in tags.items()
            if key.startswith(POOL_TAG_PREFIX)}
