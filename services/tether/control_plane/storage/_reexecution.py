"""Re-executing a run: which steps the new run executes, and the tags it carries. Pure
decisions; ``_launch.reexecute`` reads the parent run and launches the new one.

A re-execution from failure runs the steps of its parent that did not succeed (failed,
skipped because a step upstream failed, or never run). A step upstream of them that
succeeded does not run again: its IO manager stored its output, which the new run loads from
the run that made it (its "input run"). Only an upstream step whose output is not stored
(``io_manager_key=None``: kept in the memory of its run) runs again. The parent's other steps
do not run at all. Storage is decided per output: an input runs its upstream step again only
when the output it reads is not stored, and an ordering-only input (``In(Nothing)``, an
asset's ``deps=``) loads nothing, so it never does. A step mapped over a ``DynamicOut``
reports as copies (``process[a]``); it succeeded when every copy did. Its values' keys are
known only to the run that made them, so a re-execution that runs a mapped step runs the
dynamic step and the map body before it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from tether.wire import JobSnapshot, OpNodeSnapshot

from ..errors import BadInput
from ._projection import TERMINAL_STATUSES, RunStatus
from ._records import RunRecord
from ._tags import ORIGIN_TAGS, PARENT_TAG, ROOT_TAG


class ReexecutionStrategy(StrEnum):
    ALL_STEPS = "ALL_STEPS"
    FROM_FAILURE = "FROM_FAILURE"


def reexecution_tags(parent: RunRecord) -> dict[str, Any]:
    """The parent's own tags (the user's, and settings such as ``tether/max_retries``), and
    which run the new one repeats; who or what launched the parent does not carry over."""
    tags = {k: v for k, v in parent.tags.items() if k not in ORIGIN_TAGS}
    tags[PARENT_TAG] = parent.run_id
    tags[ROOT_TAG] = parent.tags.get(ROOT_TAG, parent.run_id)
    return tags


def require_ended(parent: RunRecord) -> None:
    if parent.status not in TERMINAL_STATUSES:
        raise BadInput(f"run {parent.run_id} is {parent.status}: re-execute it once it has "
                       "ended (cancel it to end it now)")


class FromFailure(NamedTuple):
    # the steps to run, in the job's order
    step_selection: list[str]
    # for each step left out whose output a selected step takes: the run that stored it
    input_runs: dict[str, str]


def steps_from_failure(parent: RunRecord, job: JobSnapshot,
                       outcomes: Mapping[str, str]) -> FromFailure:
    """The step selection of a re-execution of ``parent`` (a run that has ended) from failure,
    in the job's order, and the runs its inputs from steps left out come from. ``job`` is the
    job's graph now; ``outcomes`` maps each step the parent's last attempt reported to
    SUCCESS, FAILURE, SKIPPED, CANCELED or STARTED.

    The steps the parent was to run (its own step selection, or every step) whose outcome is
    not SUCCESS are selected, with every step upstream of them whose output is not stored.
    Raises BadInput when the parent succeeded, when all its steps did, or when the job no
    longer has a step the parent was to run and did not complete (its code changed since:
    re-execute all steps)."""
    if parent.status is RunStatus.SUCCESS:
        raise BadInput(f"run {parent.run_id} succeeded: there is no failure to re-execute "
                       "from; re-execute all steps to run it again")
    nodes = {node.name: node for node in job.nodes}
    outcomes = _folded(outcomes)
    # the (step, output) each input that loads a value reads
    upstream = {node.name: [(put.from_node, put.from_output) for put in node.inputs
                            if put.from_node is not None and not put.nothing]
                for node in job.nodes}
    to_run = parent.step_selection if parent.step_selection is not None else list(upstream)
    # with the steps the parent reported: the job's steps as they were then
    unfinished = [step for step in dict.fromkeys([*to_run, *outcomes])
                  if outcomes.get(step) != "SUCCESS"]
    gone = [step for step in unfinished if step not in upstream]
    if gone:
        raise BadInput(f"job {job.name} no longer has step {', '.join(gone)}, which run "
                       f"{parent.run_id} did not complete (its code changed since); "
                       "re-execute all steps instead")
    if not unfinished:
        raise BadInput(f"every step of run {parent.run_id} succeeded, so there is no failed "
                       "step to re-execute from; re-execute all steps to run it again")
    selected: set[str] = set()
    waiting = list(unfinished)
    input_runs: dict[str, str] = {}
    while waiting:
        step = waiting.pop()
        if step in selected:
            continue
        selected.add(step)
        mapped_over = nodes[step].mapped_over
        if mapped_over is not None:
            waiting.append(mapped_over)
        for up, output in upstream[step]:
            stored = (nodes[up].output_manager(output) is not None
                      and nodes[up].mapped_over is None and not _is_dynamic(nodes[up], output))
            if stored and outcomes.get(up) == "SUCCESS":
                input_runs[up] = parent.run_id
            elif stored and up in parent.input_runs:
                # the parent loaded it too: from the run that made it
                input_runs[up] = parent.input_runs[up]
            else:
                waiting.append(up)
    return FromFailure(
        step_selection=[step for step in upstream if step in selected],
        input_runs={step: run for step, run in input_runs.items() if step not in selected})


def _is_dynamic(node: OpNodeSnapshot, output: str) -> bool:
    return any(o.name == output and o.dynamic for o in node.outputs)


def _folded(outcomes: Mapping[str, str]) -> dict[str, str]:
    """The outcomes with the copies of each mapped step ("process[a]") folded into the
    step's own: SUCCESS when every copy succeeded, else FAILURE."""
    folded: dict[str, str] = {}
    for step, outcome in outcomes.items():
        name = step.partition("[")[0]
        if name == step or folded.get(name, "SUCCESS") == "SUCCESS":
            folded[name] = outcome if outcome == "SUCCESS" or name == step else "FAILURE"
    return folded
