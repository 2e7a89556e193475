"""Backfills: how long the backfill daemon takes to create the runs of 10,000 partitions (all
QUEUED), and how fast a backfill's runs execute with the warm launcher, against plain launches
of the same number of runs through GraphQL (``launch_throughput.py``'s measure, in the same
run: the baseline of the ratio).

Creation runs the control plane, the daemons and the agent without its launcher (the runs
are created QUEUED and handed over, and none starts, so the figure is the daemon's alone);
execution runs the whole deployment, with ``TETHER_RUN_LAUNCHER=warm``. SQLite + an embedded
Valkey.

    .venv/bin/python bench/backfill.py [--partitions 10000] [--execute 400]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _harness import Deployment, deployment
from _procfs import cpu_seconds, tree_pids
from launch_throughput import measure_with_cpu

DEFS = '''
from tether import DailyPartitionsDefinition, Definitions, job, op

# 13,000 daily partitions until now: a backfill of 10,000 fits
daily = DailyPartitionsDefinition("1990-01-01")


@op
def load(context) -> None:
    pass


@job(partitions_def=daily)
def daily_load() -> None:
    load()


defs = Definitions(jobs=[daily_load])
'''
LAUNCH = """mutation($partitions: [String!]) {
  launchBackfill(jobName: "daily_load", partitions: $partitions) { id partitionCount } }"""
RANGE = """mutation($to: String!) {
  launchBackfill(jobName: "daily_load", from: "1990-01-01", to: $to) { id partitionCount } }"""
PROGRESS = "query($id: ID!) { backfill(id: $id) { status counts { status count } } }"
KEYS = '{ job(name: "daily_load") { partitions { keys(limit: 100000) } } }'
# the agent's workers without its launcher: runs are handed over, none starts
NO_LAUNCHER = ("control-plane", "daemons", "poller", "supervisor", "uploader")


def _counts(running: Deployment, backfill_id: str) -> tuple[str, dict[str, int]]:
    found = running.graphql(PROGRESS, id=backfill_id)["backfill"]
    return found["status"], {c["status"]: c["count"] for c in found["counts"]}


def _cpu(running: Deployment) -> dict[str, float]:
    return {name: cpu_seconds(tree_pids(process.pid))
            for name, process in running.processes.items()}


def creation(partitions: int, workspace: Path) -> tuple[float, dict[str, float]]:
    """Seconds from launchBackfill until every run of ``partitions`` partitions exists, and
    the CPU seconds each process used meanwhile."""
    with deployment(workspace=workspace, processes=NO_LAUNCHER,
                    env={"TETHER_DAEMON_INTERVAL_SECONDS": "0.2"}) as running:
        keys = running.graphql(KEYS)["job"]["partitions"]["keys"]
        assert len(keys) >= partitions, f"only {len(keys)} partitions"
        before = _cpu(running)
        start = time.perf_counter()
        backfill = running.graphql(RANGE, to=keys[partitions - 1])["launchBackfill"]
        assert backfill["partitionCount"] == partitions
        while True:
            _, counts = _counts(running, backfill["id"])
            if "NOT_CREATED" not in counts:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        # created QUEUED; the agent's poller has claimed some already (STARTING), but no
        # launcher starts them
        assert sum(counts.values()) == partitions, counts
        assert set(counts) <= {"QUEUED", "STARTING"}, counts
        used = _cpu(running)
        return elapsed, {name: used[name] - before[name] for name in used}


def execution(runs: int, workspace: Path) -> tuple[float, dict[str, float]]:
    """Runs/s of a backfill of ``runs`` partitions, launch to COMPLETED, with one warm
    launcher (after one unmeasured run that starts the zygote), and each process's CPU ms
    per run."""
    with deployment(workspace=workspace, env={"TETHER_RUN_LAUNCHER": "warm",
                                              "TETHER_DAEMON_INTERVAL_SECONDS": "0.2"}
                    ) as running:
        keys = running.graphql(KEYS)["job"]["partitions"]["keys"]
        warm_up = running.graphql(LAUNCH, partitions=[keys[-1]])["launchBackfill"]["id"]
        while _counts(running, warm_up)[0] != "COMPLETED":
            time.sleep(0.05)
        before = _cpu(running)
        start = time.perf_counter()
        backfill = running.graphql(RANGE, to=keys[runs - 1])["launchBackfill"]
        while True:
            status, counts = _counts(running, backfill["id"])
            if status in ("COMPLETED", "FAILED", "CANCELED"):
                break
            running.assert_alive()
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        assert (status, counts) == ("COMPLETED", {"SUCCESS": runs}), (status, counts)
        used = _cpu(running)
        return runs / elapsed, {n: 1000 * (used[n] - before[n]) / runs for n in used}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=10_000)
    parser.add_argument("--execute", type=int, default=400)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "parts.py").write_text(DEFS)
        workspace = Path(tmp) / "workspace.toml"
        workspace.write_text('[[locations]]\nname = "parts"\npython_file = "parts.py"\n')
        seconds, cpu = creation(args.partitions, workspace)
        print(f"{args.partitions} partitions' runs created (QUEUED) in {seconds:.2f} s "
              f"({args.partitions / seconds:.0f} runs/s); CPU s: "
              + ", ".join(f"{name} {used:.2f}" for name, used in cpu.items() if used >= 0.01),
              flush=True)
        rate, cpu_ms = execution(args.execute, workspace)
    # the baseline launches through GraphQL as fast as it can: its token's mutation burst
    # must hold them all (the default, 120 then 600 a minute, would throttle the baseline
    # itself; a backfill's runs are made by the daemon, not through mutations)
    plain = measure_with_cpu(1, args.execute, "warm", warm_up=1,
                             env={"TETHER_MUTATION_BURST": str(args.execute + 10)})
    for what, runs_per_second, by_process in (
            (f"backfill of {args.execute}", rate, cpu_ms),
            (f"{args.execute} plain launches (baseline)", plain.runs_per_second,
             plain.cpu_ms_by_process)):
        print(f"{what}, warm launcher: {runs_per_second:6.2f} runs/s, "
              f"{sum(by_process.values()):.0f} ms CPU a run (" + ", ".join(
                  f"{name} {ms:.0f}" for name, ms in by_process.items()) + ")")
    print(f"backfill / plain launches: {rate / plain.runs_per_second:.2f}x")
    load = os.getloadavg()
    print(f"load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
