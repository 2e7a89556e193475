"""The executor: runs a job's steps in the run worker, emitting run events.

Independent steps run side by side in threads, up to the run's ``max_concurrent``
(``_parallel`` decides which step may start); with one at a time, in the job's order.

A failed step does not stop the run: the steps downstream of it are skipped (the reason names
the failed step) and independent steps still run, so one run shows every failure it can.
A run with a step selection (a re-execution from failure) runs only those steps; the others
are not part of the run, and no event mentions them: the inputs they fed are loaded from
storage. Each step's output goes to its IO manager (``_handover``), and each input comes
from it.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple

from .. import _telemetry as telemetry
from .. import partitions
from ..errors import (
    AssetCheckFailed,
    OutputNotProduced,
    PartitionError,
    ResourceSetupError,
    RunConfigError,
    StepSelectionError,
)
from ..wire import (
    AssetCheckEvaluation,
    AssetMaterialization,
    AssetMaterializationPlanned,
    ErrorInfo,
    LogMessage,
    RunCanceled,
    RunFailure,
    RunStart,
    RunSuccess,
    StepCanceled,
    StepFailure,
    StepRetry,
    StepSkipped,
    StepStart,
    StepSuccess,
    metadata_text,
)
from ._checks import Evaluation, check_step_result, split_check_results, step_evaluations
from ._config import resolve_run_config
from ._context import OpContext
from ._definitions import Definitions
from ._dynamic import expand_dynamic
from ._events import RunEmitter
from ._graph import JobDefinition, Node
from ._handover import Handover, StepOutputs
from ._hooks import run_hooks
from ._io_manager import DEFAULT_IO_MANAGER_KEY
from ._metadata import coerce_metadata
from ._multi_asset import MultiAssetDefinition, asset_subset
from ._outs import Produced, base_name, produced_outputs
from ._parallel import check_handover, choose_executor, pause, run_steps
from ._resources import RunResources, resource_keys
from ._retries import RetryRequested, retry_wait
from ._slots import PoolSlots, wait_for_slot
from ._tracebacks import user_traceback


def execute_job(
    defs: Definitions,
    job_name: str,
    *,
    emitter: RunEmitter,
    run_config: Mapping[str, Any] | None = None,
    step_selection: Collection[str] | None = None,
    location: str = "local",
    storage_dir: str | None = None,
    input_runs: Mapping[str, str] | None = None,
    canceled: Callable[[], bool] = lambda: False,
    partition: str | None = None,
    pool_slots: PoolSlots | None = None,
    dynamic_partitions: Mapping[str, Sequence[str]] | None = None,
    partition_range: tuple[str, str] | None = None,
) -> bool:
    """Run ``job_name``; True when every step succeeded. Its steps run as the job's executor
    or the run config's ``execution`` section says: side by side in threads (the default), in
    a forked process each, or one after another.

    Emits RUN_START, then per step STEP_START and STEP_SUCCESS or STEP_FAILURE (or
    STEP_SKIPPED), then RUN_SUCCESS or RUN_FAILURE. With ``step_selection``, only the steps
    it names run (each step whose output they take must be selected too). A
    ``KeyboardInterrupt`` raised while ``canceled()`` says the run was canceled is recorded
    as STEP_CANCELED and RUN_CANCELED; any other ``KeyboardInterrupt`` or ``SystemExit`` as
    that step's failure and the run's; either is then re-raised. Raises
    :class:`~tether.errors.JobNotFoundError` before emitting anything.

    Outputs are stored by their IO managers; the default one pickles them under
    ``storage_dir`` (per ``location``), or keeps them in memory when it is None.
    ``input_runs`` names, for a step the selection leaves out, the run whose stored output
    its downstream steps load (default: this run). ``partition`` is the partition of the job
    the run is of (required for a partitioned job, refused for another). With
    ``pool_slots``, a step of a pool it limits waits for its slot (STEP_SLOT_REQUESTED)
    before it starts. ``dynamic_partitions`` holds the keys of the dynamic partitions
    definitions its partition mappings enumerate, by name (the control plane keeps them; the
    run's launch carries them). ``partition_range`` (first, last), instead of ``partition``,
    makes a ranged run: its steps see every partition of the range
    (``context.partition_key_range``), each asset's value covering the range is stored once,
    and each partition of the range is materialized.
    """
    job = defs.get_job(job_name)
    config: Mapping[str, Any] = run_config if run_config is not None else {}
    emitter.emit(RunStart, job_name=job.name, pid=os.getpid(), step_key=None)
    try:
        configs = resolve_run_config(job, config)
        executor = choose_executor(job.executor, config)
        nodes = job.nodes if step_selection is None else job.select(step_selection)
        range_keys = _check_partition(job, partition, partition_range,
                                      dynamic_partitions or {})
        if executor.kind == "multiprocess":
            check_handover(nodes, stored=storage_dir is not None
                           or DEFAULT_IO_MANAGER_KEY in defs.resources)
    except (RunConfigError, StepSelectionError, PartitionError) as exc:
        what = {RunConfigError: "run config", StepSelectionError: "step selection",
                PartitionError: "partition"}[type(exc)]
        emitter.emit(
            RunFailure,
            message=f"Run of {job.name} failed before its first step: invalid {what}: {exc}",
            error=ErrorInfo(class_name=type(exc).__name__, message=str(exc)),
            step_key=None,
        )
        return False
    # asked once: the step's event and the run's must tell the same story
    was_canceled = functools.cache(canceled)
    resources = RunResources(defs.resources, emitter=emitter, job_name=job.name)
    handover = Handover(
        job=job, assets=defs.assets, resource=resources.get, defined=defs.resources.keys(),
        location=location, run_id=emitter.run_id, storage_dir=storage_dir,
        running={node.name for node in nodes}, input_runs=input_runs or {},
        partition=partition, dynamic=dynamic_partitions or {}, partition_keys=range_keys)
    for node in nodes:
        if node.asset_key is not None:
            # the partition status shows it in progress from here until the run ends
            for key in handover.asset_partitions(node.asset_key):
                emitter.emit(AssetMaterializationPlanned, asset_key=node.asset_key,
                             partition=key, step_key=None)
    steps = _Steps(job=job, nodes=nodes, emitter=emitter, run_config=config, configs=configs,
                   resources=resources, handover=handover, canceled=was_canceled,
                   multi_assets=defs.multi_assets, partition=partition, slots=pool_slots,
                   partition_keys=tuple(range_keys))
    run_step: Callable[[Node], ErrorInfo | None] = functools.partial(_run_step, steps)
    stop_step: Callable[[str, bool], None] | None = None
    if executor.kind == "multiprocess":
        # imported here: forking, pipes and pickle are a multiprocess run's business only
        from ._processes import ProcessSteps

        processes = ProcessSteps(emitter=emitter, canceled=was_canceled,
                                 child_step=functools.partial(_child_step, steps))
        stop_step = processes.stop

        def run_step(node: Node) -> ErrorInfo | None:
            error, outputs = processes.run(node)
            if outputs is not None:
                handover.produced_elsewhere(node.name, outputs)
            return error
    try:
        # set up before the first step, torn down after the last (a failed or canceled too)
        with resources:
            resources.setup(resource_keys(nodes, defs.assets))
            failed = run_steps(
                nodes, emitter, functools.partial(_traced, steps, run_step),
                max_concurrent=executor.concurrency(), stop_step=stop_step,
                # a node mapped over a DynamicOut runs as one copy per value
                expand=functools.partial(expand_dynamic, job,
                                         mapping_keys=handover.mapping_keys))
    except ResourceSetupError as exc:
        emitter.emit(
            RunFailure,
            message=f"Run of {job.name} failed before its first step: {exc}",
            error=_user_error(exc.__cause__ or exc),
            step_key=None,
        )
        return False
    except BaseException as exc:
        step = emitter.current_step
        emitter.current_step = None
        if _is_cancel(exc, was_canceled):
            during = f" during step {step}" if step else ""
            emitter.emit(RunCanceled, message=f"Run of {job.name} was canceled{during}",
                         step_key=None)
        else:
            error = _user_error(exc)
            if step is not None:
                # the step's failure shows the traceback already
                error = ErrorInfo(class_name=error.class_name, message=error.message)
            emitter.emit(
                RunFailure,
                message=f"Run of {job.name} was interrupted ({type(exc).__name__})",
                error=error,
                step_key=None,
            )
        raise
    if not failed:
        emitter.emit(RunSuccess, step_key=None)
        return True
    names = ", ".join(failed)
    first = next(iter(failed.values()))
    emitter.emit(
        RunFailure,
        message=f"Run of {job.name} failed: step{'s' if len(failed) > 1 else ''} {names} failed",
        # the step's event carries the traceback; the run's would only repeat it
        error=ErrorInfo(class_name=first.class_name, message=first.message),
        step_key=None,
    )
    return False


class _Steps(NamedTuple):
    job: JobDefinition
    # the nodes this run executes, in order: the job's, or its step selection's
    nodes: tuple[Node, ...]
    emitter: RunEmitter
    run_config: Mapping[str, Any]
    # the Config instance of each step that declares one
    configs: Mapping[str, Any]
    resources: RunResources
    handover: Handover
    # whether an interruption is the run's cancel
    canceled: Callable[[], bool]
    # the @multi_asset definitions by step name (what a subset of one selects)
    multi_assets: Mapping[str, MultiAssetDefinition] = {}
    # the run's partition of its job (None: not partitioned)
    partition: str | None = None
    # the pools whose slots the control plane grants (None: no step waits)
    slots: PoolSlots | None = None
    # the partitions of a ranged run, first to last (empty: not ranged)
    partition_keys: tuple[str, ...] = ()


def _is_cancel(exc: BaseException, canceled: Callable[[], bool]) -> bool:
    # a cancel arrives as SIGTERM, which the run worker turns into KeyboardInterrupt
    return isinstance(exc, KeyboardInterrupt) and canceled()


def _child_step(steps: _Steps, node: Node, emitter: RunEmitter, canceled: Callable[[], bool]
                ) -> tuple[ErrorInfo | None, StepOutputs | None]:
    # in a step's own process: its events go to the pipe, its cancel is its own signal; no
    # span here (the run worker's thread that relays the step records it), so the child never
    # touches the span exporter, whose locks the fork may have copied held. What it produced
    # goes back to the run worker, which decides what runs next
    error = _run_step(steps._replace(emitter=emitter, canceled=canceled), node)
    return error, steps.handover.outputs_of(node.name)


def _traced(steps: _Steps, run_step: Callable[[Node], ErrorInfo | None], node: Node
            ) -> ErrorInfo | None:
    _take_slot(steps, node)
    with telemetry.span("step", attributes={"tether.step": node.name}):
        error = run_step(node)
    run_hooks(job=steps.job, node=node, error=error, emitter=steps.emitter,
              resources=steps.resources.view)
    return error


def _take_slot(steps: _Steps, node: Node) -> None:
    """Wait for the step's pool slot, in the run worker's own process (a step process is
    forked only once the slot is granted); a step that will be skipped takes none."""
    pool = node.op.pool
    if (steps.slots is None or pool is None or pool not in steps.slots.limits
            or steps.handover.skip_reason(node) is not None):
        return
    steps.emitter.current_step = node.name
    try:
        wait_for_slot(steps.slots, pool, node.name, steps.emitter)
    except BaseException as exc:
        _record_interruption(steps, node, exc)
        raise
    steps.emitter.current_step = None


def _record_interruption(steps: _Steps, node: Node, exc: BaseException) -> None:
    """Record the end of a step interrupted outside its op (waiting for a slot or a retry)."""
    if _is_cancel(exc, steps.canceled):
        steps.emitter.emit(StepCanceled, step_key=node.name)
    else:
        steps.emitter.emit(StepFailure, duration=0.0, error=_user_error(exc),
                           step_key=node.name)


def _run_step(steps: _Steps, node: Node) -> ErrorInfo | None:
    """Run the step, again after each failure its retry policy (or RetryRequested) allows."""
    step_attempt = 1
    while True:
        outcome = _attempt_step(steps, node, step_attempt)
        if not isinstance(outcome, _Retry):
            return outcome
        steps.emitter.current_step = node.name
        try:
            pause(outcome.seconds)
        except BaseException as exc:
            _record_interruption(steps, node, exc)
            raise
        steps.emitter.current_step = None
        step_attempt += 1


class _Retry(NamedTuple):
    seconds: float


def _attempt_step(steps: _Steps, node: Node, step_attempt: int) -> ErrorInfo | _Retry | None:
    job, emitter, config = steps.job, steps.emitter, steps.run_config
    step_key = node.name
    op = node.op
    skipped = steps.handover.skip_reason(node)
    if skipped is not None:
        emitter.emit(StepSkipped, reason=skipped, step_key=step_key)
        return None
    emitter.current_step = step_key
    emitter.emit(StepStart, step_key=step_key, step_attempt=step_attempt)
    started = time.perf_counter()
    context: OpContext | None = None
    try:
        kwargs = steps.handover.load_inputs(node)
        if op.config_param is not None:
            # a copy of a mapped step ("process[a]") has its template's config
            kwargs[op.config_param] = steps.configs[base_name(step_key)]
        for name in op.resource_params:
            kwargs[name] = steps.resources.get(name)
        multi = steps.multi_assets.get(node.name)
        subset = asset_subset(node, steps.nodes, multi)
        if op.takes_context:
            context = OpContext(
                emitter=emitter,
                job_name=job.name,
                op_name=op.name,
                step_key=step_key,
                run_config=config,
                asset_key=node.asset_key,
                resources=steps.resources.view,
                retry_number=step_attempt - 1,
                selected_asset_keys=subset.asset_keys,
                selected_output_names=subset.output_names,
                partition=steps.partition,
                partitions_def=job.partitions_def,
                partition_keys=steps.partition_keys,
            )
            returned = op.fn(context, **kwargs)
        else:
            returned = op.fn(**kwargs)
        made: list[Produced] = []
        typed: dict[str | None, dict[str, Any]] = {}
        if node.check is not None:
            # an @asset_check's step: its function returns the result, nothing to store
            evaluations = [check_step_result(node.check, step_key, returned)]
        else:
            results: list[Any] = []
            if node.check_specs or node.asset_key is not None:
                returned, results = split_check_results(returned)
            if multi is not None and multi.can_subset:
                # only the selected assets' values go on (and into storage)
                returned = multi.selected_values(returned, subset)
            made = produced_outputs(op.outs, step_key, returned)
            added = context.output_metadata if context is not None else {}
            several = len(op.outs) > 1 or any(out.is_dynamic for out in op.outs.values())
            typed = _typed_metadata(made, added, several=several)
            evaluations = (step_evaluations(node.check_specs, step_key, results)
                           if node.check_specs or results else [])
            for output in made:
                if output.store and not op.outs[output.name].is_nothing:
                    steps.handover.store(node, output.stored_name, output.value)
        checked = [(evaluation, coerce_metadata(evaluation.result.metadata))
                   for evaluation in evaluations]
        blocked = [evaluation for evaluation in evaluations if evaluation.blocks]
        if blocked:
            # what the step made is recorded; failing it keeps the checked asset's
            # downstream steps from running
            _record(emitter, node, typed, checked, steps.handover)
            raise AssetCheckFailed("; ".join(_blocked_message(e) for e in blocked))
        steps.handover.produced(step_key, made)
    except OutputNotProduced as exc:
        emitter.emit(StepSkipped, reason=str(exc), step_key=step_key)
        emitter.current_step = None
        return None
    except Exception as exc:
        wait = retry_wait(op.retry_policy, exc, step_attempt)
        # a RetryRequested raised `from` the real error: the events show that one
        error = _user_error(exc.__cause__ if isinstance(exc, RetryRequested)
                            and isinstance(exc.__cause__, Exception) else exc)
        if wait is not None:
            emitter.emit(StepRetry, duration=time.perf_counter() - started, error=error,
                         step_attempt=step_attempt, delay=wait, step_key=step_key)
            emitter.current_step = None
            return _Retry(wait)
        emitter.emit(
            StepFailure, duration=time.perf_counter() - started, error=error, step_key=step_key
        )
        emitter.current_step = None
        return error
    except BaseException as exc:
        took = time.perf_counter() - started
        if _is_cancel(exc, steps.canceled):
            emitter.emit(StepCanceled, duration=took, step_key=step_key)
        else:
            emitter.emit(StepFailure, duration=took, error=_user_error(exc), step_key=step_key)
        # left set: the run's event names the step it stopped in
        raise
    duration = time.perf_counter() - started
    _record(emitter, node, typed, checked, steps.handover)
    emitter.emit(StepSuccess, duration=duration, step_key=step_key)
    emitter.current_step = None
    return None


def _record(emitter: RunEmitter, node: Node, typed: Mapping[str | None, Mapping[str, Any]],
            checked: list[tuple[Evaluation, dict[str, Any]]], handover: Handover) -> None:
    """Emit what a step made: its asset's materialization (or its outputs' metadata, logged),
    then its check results."""
    step_key = node.name
    if node.asset_key is not None:
        # a ranged run's value covers its range: each partition of it is materialized
        for key in handover.asset_partitions(node.asset_key):
            emitter.emit(AssetMaterialization, asset_key=node.asset_key,
                         metadata=typed.get(None, {}), step_key=step_key, partition=key)
    for output_name, metadata in typed.items():
        if metadata and node.asset_key is None:
            # an op's output has no materialization to carry it: the run's log shows it
            what = ("output metadata" if output_name is None
                    else f"output {output_name!r} metadata")
            emitter.emit(LogMessage, level="INFO", step_key=step_key, message=f"{what}: " +
                         ", ".join(f"{label}={metadata_text(v)}" for label, v in metadata.items()))
    for evaluation, metadata in checked:
        spec, result = evaluation.spec, evaluation.result
        emitter.emit(AssetCheckEvaluation, asset_key=spec.key, check_name=spec.name,
                     passed=result.passed, severity=result.severity.value,
                     blocking=spec.blocking,
                     description=result.description,
                     metadata=metadata, step_key=step_key)


def _blocked_message(evaluation: Evaluation) -> str:
    said = f": {evaluation.result.description}" if evaluation.result.description else ""
    return (f"blocking check {evaluation.spec.name!r} of asset {evaluation.spec.key!r} "
            f"failed{said}; the steps downstream of the asset do not run")


def _check_partition(job: JobDefinition, partition: str | None,
                     partition_range: tuple[str, str] | None,
                     dynamic: Mapping[str, Sequence[str]]) -> list[str]:
    """A partitioned job runs one of its partitions, or a range of them (its keys returned);
    another runs none. Dynamic keys are the control plane's, which checked them at launch."""
    definition = None if job.partitions_def is None else job.partitions_def.snapshot
    if definition is None:
        if partition is not None or partition_range is not None:
            raise PartitionError(f"job {job.name!r} is not partitioned; got partition "
                                 f"{partition if partition_range is None else partition_range!r}")
        return []
    if partition is not None and partition_range is not None:
        raise PartitionError(f"job {job.name!r}: a run is of one partition or of a range of "
                             f"them, not both (got {partition!r} and {partition_range!r})")
    if partition_range is not None:
        return partitions.key_range(definition, *partition_range, now=time.time(),
                                    dynamic=dynamic)
    if partition is None:
        raise PartitionError(f"job {job.name!r} is partitioned: give the partition to run")
    if not partitions.dynamic_names(definition):
        partitions.check_partition(definition, partition, now=time.time(),
                                   what=f"job {job.name!r}")
    return []


def _typed_metadata(made: list[Produced], added: Mapping[str, Any], *,
                    several: bool) -> dict[str | None, dict[str, Any]]:
    """Each output's metadata, checked, by stored name (``items[a]`` for a dynamic value);
    keyed None for an op with one plain output, which also takes what
    ``context.add_output_metadata`` added (with several, that is logged apart)."""
    if not several:
        return {None: coerce_metadata({**added, **(made[0].metadata if made else {})})}
    typed: dict[str | None, dict[str, Any]] = {None: coerce_metadata(added)} if added else {}
    typed.update((output.stored_name, coerce_metadata(output.metadata)) for output in made)
    return typed


def _user_error(exc: BaseException) -> ErrorInfo:
    """The error with only the frames the user can act on (none for Tether's own errors, such
    as an unset EnvVar: the message says what to do)."""
    return ErrorInfo(class_name=type(exc).__name__, message=str(exc), stack=user_traceback(exc))
