"""``tether api execute-run``: executes one run attempt and writes its events and logs to the
agent's Redis. The run worker holds no control-plane credential.

Its exit code tells the launcher whether the run's outcome is in the events: 0 (success), 3
(failure) and 5 (canceled) mean the terminal event was written and flushed; anything else (a
crash, a kill, a broker that stayed away) leaves the outcome to the control plane.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType

from .. import _telemetry as telemetry
from .. import partitions
from ..broker import StreamWriter, keys
from ..errors import CodeLocationLoadError, TetherError
from ..sdk import Definitions, PoolSlots, RunEmitter, execute_job, load_definitions
from ..wire import (
    EXIT_DUPLICATE_ATTEMPT,
    EXIT_INTERRUPTED,
    EXIT_RUN_CANCELED,
    EXIT_RUN_FAILED,
    EXIT_RUN_SUCCEEDED,
    ErrorInfo,
    LaunchRun,
    RunCanceled,
    RunEvent,
    RunFailure,
    RunStart,
    RunSuccess,
    StepCanceled,
    StepFailure,
    StepSuccess,
)
from ._capture import OutputCapture

EXIT_NOT_REPORTED = 2


# the run worker's service name in its traces
SERVICE = "tether-run-worker"


def execute_run(launch: LaunchRun, *, redis_url: str, traceparent: str = "",
                defs: Definitions | None = None, storage_dir: str | None = None) -> int:
    """Execute ``launch`` and return the process exit code. ``defs`` are the location's
    definitions when they are loaded already (a warm start, forked from a zygote);
    ``storage_dir`` is where the default IO manager keeps outputs (None: in memory)."""
    outcome: list[type[RunEvent]] = []
    capture: OutputCapture | None = None
    writer = StreamWriter(redis_url, traceparent=traceparent, deployment=launch.deployment,
                          warn=lambda message: _warn(capture, message))
    # no metrics: the run worker's figures are the launcher's and uploader's; its spans go to
    # the uploader through the broker, behind its events
    telemetry.configure(SERVICE, metrics=False,
                        relay=lambda spans: writer.put(keys.OUT_SPANS, spans))

    def sink(event: RunEvent) -> None:
        if isinstance(event, StepSuccess | StepFailure | StepCanceled) and capture is not None:
            # the step's last output belongs to it, not to whatever runs next
            capture.drain()
        if isinstance(event, RunSuccess | RunFailure | RunCanceled):
            outcome.append(type(event))
        writer.put(keys.OUT_EVENTS, event)

    guard = keys.executing_key(launch.run_id, launch.attempt)
    if not writer.claim(guard, str(os.getpid()), keys.LAUNCH_GUARD_SECONDS):
        # a second process for the same attempt (a launcher that died mid-launch and a
        # redelivery): the first one executes and reports it
        _warn(None, f"tether: run {launch.run_id} attempt {launch.attempt} is executing "
                    "elsewhere; this process does nothing")
        telemetry.shutdown()
        writer.close()
        return EXIT_DUPLICATE_ATTEMPT
    emitter = RunEmitter(run_id=launch.run_id, attempt=launch.attempt, sink=sink)
    capture = OutputCapture(
        run_id=launch.run_id, attempt=launch.attempt,
        send=lambda chunk: writer.put(keys.OUT_LOGS, chunk),
        current_step=lambda: emitter.current_step,
        thread_step=emitter.own_step,
    )
    # SIGTERM (a cancel, or an agent stopping its runs) interrupts the step like Ctrl-C, so
    # the user's finally blocks run and the interruption is recorded: as a cancel when the
    # launcher marked the attempt canceled before signalling, else as a failure
    signal.signal(signal.SIGTERM, _interrupt)
    capture.start()
    interrupted = False
    try:
        with telemetry.span("run_worker.execute", parent=traceparent,
                            attributes={"tether.run_id": launch.run_id,
                                        "tether.attempt": launch.attempt,
                                        "tether.job": launch.job_name}) as run_traceparent:
            # the run's events and logs are uploaded under this span
            writer.traceparent = run_traceparent
            _execute(launch, emitter, defs, storage_dir,
                     canceled=lambda: writer.exists(keys.canceled_key(launch.run_id,
                                                                      launch.attempt)),
                     # the launcher marks a pooled step's slot granted (the control plane's
                     # GrantSlot): the run worker's broker user may ask EXISTS of it only
                     granted=lambda step: writer.exists(keys.slot_key(
                         launch.run_id, launch.attempt, step)))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        capture.stop()
        # the spans are handed to the writer, which the close then flushes
        telemetry.shutdown()
        flushed = writer.close()
    if not flushed:
        _warn(None, "tether: could not write every event to the broker before exiting")
        return EXIT_NOT_REPORTED
    if outcome == [RunSuccess]:
        return EXIT_RUN_SUCCEEDED
    if outcome == [RunFailure]:
        return EXIT_RUN_FAILED
    if outcome == [RunCanceled]:
        return EXIT_RUN_CANCELED
    return EXIT_INTERRUPTED if interrupted else EXIT_NOT_REPORTED


def _execute(launch: LaunchRun, emitter: RunEmitter, defs: Definitions | None,
             storage_dir: str | None, *, canceled: Callable[[], bool],
             granted: Callable[[str], bool]) -> None:
    try:
        if defs is None:
            defs = load_definitions(launch.location)
        defs.get_job(launch.job_name)
    except TetherError as exc:
        stack = exc.user_traceback if isinstance(exc, CodeLocationLoadError) else ""
        error = ErrorInfo(class_name=type(exc).__name__, message=str(exc), stack=stack)
        emitter.emit(RunStart, job_name=launch.job_name, pid=os.getpid())
        emitter.emit(RunFailure, message=f"Run failed before its first step: {exc}",
                     error=error)
        return
    execute_job(defs, launch.job_name, emitter=emitter, run_config=launch.run_config,
                step_selection=launch.step_selection, location=launch.location.name,
                storage_dir=storage_dir, input_runs=launch.input_runs, canceled=canceled,
                partition=launch.partition, dynamic_partitions=launch.dynamic_partitions,
                partition_range=partitions.range_of(launch.tags),
                pool_slots=PoolSlots(limits=launch.pool_limits, granted=granted))


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")


def _warn(capture: OutputCapture | None, message: str) -> None:
    if capture is not None:
        capture.write_original(message)
    else:
        os.write(2, (message + "\n").encode(errors="replace"))
