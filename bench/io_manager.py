"""What storing outputs costs a step: the default IO manager (a pickle file written under a
temporary name and renamed into place, then read back by the step downstream) against steps
that keep their output in the run's memory (``io_manager_key=None``), in the same run.

One job has two chains of ``--steps`` ops each, interleaved so both see the same machine: in
one every op stores its small output (a dict of ten ints) and loads its input from storage,
in the other nothing is stored. The executor is the run worker's own (``execute_job``), on
a storage folder of this disk; each step's time is its STEP_SUCCESS ``duration`` (loading
its input, the op, storing its output). The overhead per step is the difference of the
medians; the target is under 1 ms.

    .venv/bin/python bench/io_manager.py [--steps 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from _harness import REPO

from tether import Definitions, op
from tether.sdk import JobDefinition, Node, RunEmitter, execute_job
from tether.wire import RunEvent, StepSuccess


@op
def stored_step(value: dict[str, int] | None = None) -> dict[str, int]:
    return {f"k{n}": n + (value or {}).get("k0", 0) for n in range(10)}


@op(io_manager_key=None)
def memory_step(value: dict[str, int] | None = None) -> dict[str, int]:
    return {f"k{n}": n + (value or {}).get("k0", 0) for n in range(10)}


def chains(steps: int) -> JobDefinition:
    nodes = []
    for n in range(steps):
        for prefix, definition in (("stored", stored_step), ("memory", memory_step)):
            inputs = {} if n == 0 else {"value": f"{prefix}_{n - 1}"}
            nodes.append(Node(name=f"{prefix}_{n}", op=definition, inputs=inputs))
    return JobDefinition("chains", nodes)


def one_round(defs: Definitions, storage: Path, number: int) -> tuple[float, float]:
    """The median step time (ms) of the stored chain and of the in-memory chain."""
    events: list[RunEvent] = []
    emitter = RunEmitter(run_id=f"bench-{number}", attempt=1, sink=events.append)
    assert execute_job(defs, "chains", emitter=emitter, location="bench",
                       storage_dir=str(storage))
    times: dict[str, list[float]] = {"stored": [], "memory": []}
    for event in events:
        if isinstance(event, StepSuccess) and event.step_key:
            times[event.step_key.split("_")[0]].append(event.duration * 1000)
    return statistics.median(times["stored"]), statistics.median(times["memory"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    defs = Definitions(jobs=[chains(args.steps)])
    results: list[tuple[float, float]] = []
    # on the disk the agent's data folder lives on, not a tmpfs
    with tempfile.TemporaryDirectory(dir=REPO) as folder:
        one_round(defs, Path(folder), 0)  # warm-up: imports, first files
        for number in range(1, args.rounds + 1):
            stored, memory = one_round(defs, Path(folder), number)
            results.append((stored, memory))
            print(f"  round {number}: stored {stored:.3f} ms/step, in memory "
                  f"{memory:.3f} ms/step", flush=True)
    stored = statistics.median(r[0] for r in results)
    memory = statistics.median(r[1] for r in results)
    summary: dict[str, Any] = {"stored": stored, "memory": memory,
                               "overhead": stored - memory, "ratio": stored / memory}
    print(f"median step: stored {summary['stored']:.3f} ms, in memory "
          f"{summary['memory']:.3f} ms; overhead {summary['overhead']:.3f} ms per step "
          f"({summary['ratio']:.1f}x)")


if __name__ == "__main__":
    main()
