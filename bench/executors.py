"""What running steps side by side costs per step: the thread and multiprocess executors
against the sequential one (``in_process``), for runs of 1, 10, 50 and 100 trivial
independent steps.

Each run is ``execute_job`` as the run worker calls it (events to a list, outputs stored by
the default IO manager in a temporary folder), so the figure is the executor's own overhead
per step: scheduling, a thread (or a forked process) per step, the events, storing the
output. The ops do nothing,
so the thread executor cannot win anything back here; its gain is for steps that wait (I/O,
a warehouse, a subprocess), which this does not measure. Rounds alternate the executors, so
both see the same machine.

    .venv/bin/python bench/executors.py [--rounds 15] [--dagster <dagster venv>/bin/python]

With ``--dagster``, the same jobs also run under Dagster's in-process and multiprocess
executors (``jobs/dagster_executors.py``, in Dagster's own interpreter: Dagster is no
dependency of Tether; ``_dagster.ensure_venv`` makes such a virtualenv).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import REPO

from tether import Definitions, op
from tether.sdk import JobDefinition, Node, RunEmitter, execute_job
from tether.wire import RunEvent

EXECUTORS: dict[str, dict[str, Any]] = {
    "in_process": {"executor": "in_process"},
    "thread (max_concurrent=4)": {"executor": "thread", "max_concurrent": 4},
    "multiprocess (max_concurrent=4)": {"executor": "multiprocess", "max_concurrent": 4},
}
SIZES = (1, 10, 50, 100)


@op
def trivial() -> int:
    return 1


def fan(steps: int) -> JobDefinition:
    return JobDefinition(f"fan_{steps}", [Node(name=f"step_{n}", op=trivial, inputs={})
                                          for n in range(steps)])


def one_run(defs: Definitions, job: str, execution: dict[str, Any], storage: str) -> float:
    """Seconds of one run."""
    events: list[RunEvent] = []
    emitter = RunEmitter(run_id="bench", attempt=1, sink=events.append)
    started = time.perf_counter()
    assert execute_job(defs, job, emitter=emitter, location="bench", storage_dir=storage,
                       run_config={"execution": execution})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--dagster", type=Path, help="the python of a Dagster virtualenv")
    parser.add_argument("--dagster-rounds", type=int, default=2)
    args = parser.parse_args()
    defs = Definitions(jobs=[fan(n) for n in SIZES])
    times: dict[tuple[str, int], list[float]] = {(e, n): [] for e in EXECUTORS for n in SIZES}
    with tempfile.TemporaryDirectory(dir=REPO) as storage:
        for execution in EXECUTORS.values():
            one_run(defs, "fan_10", execution, storage)  # warm up imports and caches
        for _ in range(args.rounds):
            for n in SIZES:
                for name, execution in EXECUTORS.items():
                    times[(name, n)].append(one_run(defs, f"fan_{n}", execution, storage))
    print(f"{'executor':<32} {'steps':>5} {'run (ms)':>10} {'per step (ms)':>14} "
          f"{'ratio to in_process':>20}")
    for n in SIZES:
        base = statistics.median(times[("in_process", n)])
        for name in EXECUTORS:
            median = statistics.median(times[(name, n)])
            print(f"{name:<32} {n:>5} {median * 1000:>10.2f} {median * 1000 / n:>14.3f} "
                  f"{median / base:>19.2f}x")
    if args.dagster is not None:
        dagster_rows(args.dagster, args.dagster_rounds, times)


def dagster_rows(python: Path, rounds: int, tether: dict[tuple[str, int], list[float]]) -> None:
    done = subprocess.run([python, Path(__file__).parent / "jobs" / "dagster_executors.py",
                           "--rounds", str(rounds)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"dagster_executors.py failed:\n{done.stderr[-3000:]}")
    dagster: dict[str, list[float]] = json.loads(done.stdout)
    print(f"\n{'Dagster executor':<32} {'steps':>5} {'run (ms)':>10} {'per step (ms)':>14} "
          f"{'ratio to Tether in_process':>27}")
    for key, samples in dagster.items():
        name, n = key.rsplit(" ", 1)
        median = statistics.median(samples)
        base = statistics.median(tether[("in_process", int(n))])
        print(f"{name:<32} {n:>5} {median * 1000:>10.2f} {median * 1000 / int(n):>14.3f} "
              f"{median / base:>26.1f}x")


if __name__ == "__main__":
    main()
