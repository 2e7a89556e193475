"""Sustained launch throughput: trivial runs per second, launch to SUCCESS, with 1 and with 3
cold launchers and with 1 warm launcher (the 1 cold launcher figure, measured in the same
run, is the baseline of the ratios).

Starts the whole deployment on SQLite + an embedded Valkey, launches N runs of the example's
`hello_job` at once through GraphQL and times until all are SUCCESS.

    .venv/bin/python bench/launch_throughput.py [--runs 40]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

from _harness import deployment
from _procfs import cpu_seconds, tree_pids

LAUNCH = 'mutation { launchRun(jobName: "hello_job") { id } }'
STATUSES = "query($limit: Int) { runs(limit: $limit) { status } }"


@dataclass(frozen=True)
class Throughput:
    runs_per_second: float
    # CPU time each of the deployment's processes (not the broker) used per run, launch to
    # SUCCESS, with that of the processes it started (a launcher's zygotes and run workers)
    cpu_ms_by_process: dict[str, float]

    @property
    def cpu_ms_per_run(self) -> float:
        return sum(self.cpu_ms_by_process.values())


def measure(launchers: int, runs: int, backend: str = "process",
            env: dict[str, str] | None = None) -> float:
    return measure_with_cpu(launchers, runs, backend, env).runs_per_second


def measure_with_cpu(launchers: int, runs: int, backend: str = "process",
                     env: dict[str, str] | None = None,
                     drained: Callable[[], bool] | None = None,
                     warm_up: int = 0) -> Throughput:
    """With ``drained``, the CPU time counts until ``drained()`` holds too: what the
    deployment still does for the runs once they succeeded (exporting their spans). With
    ``warm_up``, that many runs go first, unmeasured: what happens once per deployment (a
    warm launcher starts its zygote at the first launch) is then left out."""
    with deployment(copies={"launcher": launchers},
                    env={"TETHER_RUN_LAUNCHER": backend, **(env or {})}) as running:
        def succeeded(count: int) -> bool:
            statuses = [r["status"] for r in running.graphql(STATUSES, limit=count)["runs"]]
            assert "FAILURE" not in statuses, running.output()
            return all(status == "SUCCESS" for status in statuses)

        for _ in range(warm_up):
            running.graphql(LAUNCH)
        while warm_up and not succeeded(warm_up):
            time.sleep(0.05)

        def cpu() -> dict[str, float]:
            return {name: cpu_seconds(tree_pids(process.pid))
                    for name, process in running.processes.items()}

        cpu_before = cpu()
        start = time.perf_counter()
        for _ in range(runs):
            running.graphql(LAUNCH)
        while not succeeded(runs):
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        while drained is not None and not drained():
            running.assert_alive()
            time.sleep(0.05)
        used = cpu()
        return Throughput(runs / elapsed, {name: 1000 * (used[name] - cpu_before[name]) / runs
                                           for name in used})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    one = measure(1, args.runs)
    print(f"1 launcher, cold : {one:6.2f} runs/s ({args.runs} runs of hello_job; baseline)",
          flush=True)
    three = measure(3, args.runs)
    print(f"3 launchers, cold: {three:6.2f} runs/s ({three / one:.2f}x)", flush=True)
    warm = measure(1, args.runs, "warm")
    print(f"1 launcher, warm : {warm:6.2f} runs/s ({warm / one:.2f}x)")


if __name__ == "__main__":
    main()
