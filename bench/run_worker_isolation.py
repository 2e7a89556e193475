"""The run worker is never slowed by the control plane: a step logging N lines takes as long
while the control plane is stopped (SIGSTOP, as good as absent) as while it is up.

Starts the whole deployment on SQLite + an embedded Valkey with a workspace whose job waits a
second and then logs N lines. In each round it launches the job twice: once with the control
plane up (the baseline), once with it stopped from the moment the run has started until its
run worker has exited. The step's duration comes from its STEP_START and STEP_SUCCESS events
(the run worker's own clock); the time the events then take to arrive is reported too.

    .venv/bin/python bench/run_worker_isolation.py [--lines 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

import redis
from _harness import Deployment, deployment

from tether.broker import keys

DEFS = """
import time

from tether import Definitions, OpContext, job, op


@op
def settle() -> None:
    time.sleep(1.0)


@op
def emit(context: OpContext, _: None) -> None:
    for line in range(LINES):
        context.log.info(f"row {line} processed")


@job
def log_lines() -> None:
    emit(settle())


defs = Definitions(jobs=[log_lines])
"""

LAUNCH = 'mutation { launchRun(jobName: "log_lines") { id } }'
RUN = "query($id: ID!) { run(id: $id) { events { type stepKey timestamp } } }"
STATUS = "query($id: ID!) { run(id: $id) { status } }"


def step_seconds(running: Deployment, run_id: str) -> float:
    """How long the ``emit`` step took, by the run worker's clock."""
    events = running.graphql(RUN, id=run_id)["run"]["events"]
    at = {e["type"]: e["timestamp"] for e in events
          if e["stepKey"] == "emit" and e["type"].startswith("STEP_")}
    return at["STEP_SUCCESS"] - at["STEP_START"]


def one_run(running: Deployment, stop_control_plane: bool) -> tuple[float, float]:
    """The step's duration, and how long after the run worker's exit the run was SUCCESS."""
    run_id = running.graphql(LAUNCH)["launchRun"]["id"]
    running.wait_for(lambda: running.graphql(STATUS, id=run_id)["run"]["status"] == "STARTED",
                     what="run started")
    control_plane = running.processes["control-plane"].pid
    if stop_control_plane:
        os.kill(control_plane, signal.SIGSTOP)
    try:
        _wait_worker_exit(running.env["TETHER_REDIS_URL"], run_id)
        exited = time.perf_counter()
    finally:
        os.kill(control_plane, signal.SIGCONT)
    running.wait_for(lambda: running.graphql(STATUS, id=run_id)["run"]["status"] == "SUCCESS",
                     what="run SUCCESS")
    return step_seconds(running, run_id), time.perf_counter() - exited


def _wait_worker_exit(redis_url: str, run_id: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        pid = None
        while pid is None:
            pid = client.get(keys.executing_key(run_id, 1))
            time.sleep(0.01)
        while Path(f"/proc/{int(pid)}").exists():
            time.sleep(0.01)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "defs.py").write_text(f"LINES = {args.lines}\n{DEFS}")
        workspace = Path(tmp) / "workspace.toml"
        workspace.write_text('[[locations]]\nname = "bench"\npython_file = "defs.py"\n')
        up: list[tuple[float, float]] = []
        stopped: list[tuple[float, float]] = []
        with deployment(workspace=workspace) as running:
            for _ in range(args.rounds):
                up.append(one_run(running, stop_control_plane=False))
                stopped.append(one_run(running, stop_control_plane=True))
    baseline = statistics.median(s for s, _ in up)
    for name, samples in (("control plane up (baseline)", up),
                          ("control plane stopped     ", stopped)):
        step = statistics.median(s for s, _ in samples)
        arrive = statistics.median(a for _, a in samples)
        print(f"{name}: step of {args.lines:,} log lines {step * 1000:7.1f} ms "
              f"({step / baseline:.2f}x), all stored {arrive * 1000:7.1f} ms after the "
              f"run worker exited; {len(samples)} runs")


if __name__ == "__main__":
    main()
