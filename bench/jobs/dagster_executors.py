"""The Dagster side of ``bench/executors.py --dagster``: 1, 10, 50 and 100 trivial
independent ops under Dagster's in-process executor, and 1, 10 and 50 under its multiprocess
executor (max_concurrent 4), on a temporary local instance. Run with Dagster's own
interpreter; prints one JSON object on stdout: ``{"<executor> <steps>": [seconds, ...]}``.

    <dagster venv>/bin/python bench/jobs/dagster_executors.py --rounds 3
"""

import argparse
import json
import sys
import time
from pathlib import Path

from dagster import (
    DagsterInstance,
    build_reconstructable_job,
    execute_job,
    in_process_executor,
    job,
    multiprocess_executor,
    op,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SIZES = (1, 10, 50, 100)


@op
def trivial() -> int:
    return 1


def make_fan(steps: int, executor: str):
    """A job of ``steps`` independent trivial ops under ``executor``; a module-level factory,
    so the multiprocess executor's step processes can rebuild it."""
    executor_def = (in_process_executor if executor == "in_process"
                    else multiprocess_executor.configured({"max_concurrent": 4}))

    @job(name=f"fan_{steps}_{executor}", executor_def=executor_def)
    def fan() -> None:
        for n in range(steps):
            trivial.alias(f"step_{n}")()

    return fan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    # a Dagster step process takes seconds: 100 of them, several times, take many minutes
    parser.add_argument("--multiprocess-sizes", type=int, nargs="*", default=[1, 10, 50])
    args = parser.parse_args()
    times: dict[str, list[float]] = {}
    with DagsterInstance.local_temp() as instance:
        for executor in ("in_process", "multiprocess"):
            for steps in (args.sizes if executor == "in_process" else args.multiprocess_sizes):
                target = build_reconstructable_job(
                    "dagster_executors", "make_fan", reconstructable_args=(steps, executor),
                    reconstructor_working_directory=str(HERE))
                # a warm-up: the first run builds the plan and imports lazily
                assert execute_job(target, instance=instance).success
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    result = execute_job(target, instance=instance)
                    times.setdefault(f"{executor} {steps}", []).append(
                        time.perf_counter() - start)
                    assert result.success
    print(json.dumps(times))


if __name__ == "__main__":
    main()
