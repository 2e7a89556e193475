"""``tether api execute-run``: executes one run attempt and writes its events and logs to the
agent's Redis. The run worker holds no control-plane credential."""

from __future__ import annotations

import os
import sys

from ..broker._keys import OUT_EVENTS, OUT_LOGS
from ..broker._writer import StreamWriter
from ..errors import CodeLocationLoadError, TetherError
from ..sdk import RunEmitter, execute_job, load_definitions
from ..wire import ErrorInfo, LaunchRun, RunFailure, RunStart
from ._capture import OutputCapture


def execute_run(launch: LaunchRun, *, redis_url: str, traceparent: str = "") -> int:
    """Execute ``launch`` and return the process exit code: 0 for a successful run."""
    writer = StreamWriter(redis_url, traceparent=traceparent)
    emitter = RunEmitter(run_id=launch.run_id, attempt=launch.attempt,
                         sink=lambda event: writer.put(OUT_EVENTS, event))
    capture = OutputCapture(
        run_id=launch.run_id, attempt=launch.attempt,
        send=lambda chunk: writer.put(OUT_LOGS, chunk),
        current_step=lambda: emitter.current_step,
    )
    capture.start()
    try:
        ok = _execute(launch, emitter)
    finally:
        capture.stop()
        flushed = writer.close()
    if not flushed:
        print("tether: could not write every event to the broker before exiting",
              file=sys.stderr)
        return 2
    return 0 if ok else 1


def _execute(launch: LaunchRun, emitter: RunEmitter) -> bool:
    try:
        defs = load_definitions(launch.location)
        defs.get_job(launch.job_name)
    except (CodeLocationLoadError, TetherError) as exc:
        error = ErrorInfo.from_exception(exc)
        if isinstance(exc, CodeLocationLoadError) and exc.user_traceback:
            error = ErrorInfo(class_name=error.class_name, message=error.message,
                              stack=exc.user_traceback)
        emitter.emit(RunStart, job_name=launch.job_name, pid=os.getpid())
        emitter.emit(RunFailure, message=f"Run failed before its first step: {exc}",
                     error=error)
        return False
    return execute_job(defs, launch.job_name, emitter=emitter, run_config=launch.run_config)



