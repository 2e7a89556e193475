"""Launch → SUCCESS of the example job on the embedded default (SQLite + embedded Valkey).

Starts the control plane and the four agent workers as real processes (as `tether dev` does),
launches `hello_job` N times one after another, and reports the median time from the
`launchRun` mutation to the run being SUCCESS as the control plane sees it, with the cold
process launcher and with the warm one. Baselines measured in the same run: the start of a
bare Python interpreter, and `python -c "import tether"` (a cold run worker's floor).

    .venv/bin/python bench/launch_latency.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _harness import Deployment, deployment

LAUNCH = "mutation { launchRun(jobName: \"hello_job\") { id } }"
STATUS = "query($id: ID!) { run(id: $id) { status } }"


def time_command(argv: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    python_start = time_command([sys.executable, "-c", "pass"], 10)
    import_tether = time_command([sys.executable, "-c", "import tether"], 10)

    cold = launch_to_success("process", args.runs)
    warm = launch_to_success("warm", args.runs)

    print(f"python -c pass (baseline)        median {python_start * 1000:7.1f} ms")
    print(f"python -c 'import tether'        median {import_tether * 1000:7.1f} ms "
          f"({import_tether / python_start:.2f}x baseline)")
    for name, samples in (("cold (process)", cold), ("warm (zygote) ", warm)):
        median = statistics.median(samples)
        print(f"launch -> SUCCESS, {name}  median {median * 1000:7.1f} ms "
              f"({median / python_start:.1f}x baseline) over {args.runs} runs; "
              f"min {min(samples) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms")


def launch_to_success(launcher: str, runs: int) -> list[float]:
    with deployment(env={"TETHER_RUN_LAUNCHER": launcher}) as running:
        # one run first: the warm launcher starts its zygote on the first launch
        run_once(running)
        return [run_once(running) for _ in range(runs)]


def run_once(deployment: Deployment) -> float:
    start = time.perf_counter()
    run_id = deployment.graphql(LAUNCH)["launchRun"]["id"]
    while deployment.graphql(STATUS, id=run_id)["run"]["status"] != "SUCCESS":
        time.sleep(0.005)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
