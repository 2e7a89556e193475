"""Tether against Dagster 1.13 OSS, side by side, in one run on this machine.

Both systems run the same user code (``jobs/tether_jobs.py`` and ``jobs/dagster_jobs.py``,
line for line the same jobs; ``jobs/dagster_hello.py`` is the ``hello`` example ported) as
real processes: Tether as the benchmarks' deployment (control plane and the four agent
workers on SQLite or PostgreSQL and an embedded Valkey), Dagster as ``dagster dev`` on a
fresh SQLite DAGSTER_HOME, from a throwaway virtualenv (``bench/.dagster-venv``, created
on first use; Dagster is not a dependency of Tether). Prints a table of both systems'
medians, the ratio Dagster/Tether and whether Tether meets its target.

    .venv/bin/python bench/dagster_side_by_side.py [--quick] [--measures launch events ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from _dagster import JOBS, DagsterDev, dagster_dev, ensure_venv, probe
from _harness import Deployment, deployment, fresh_database
from _procfs import PeakRss, rss_bytes, tree_pids
from tests.conftest import EXAMPLE_WORKSPACE, reachable

from tether._net import free_port
from tether.codeserver import CodeServerClient, code_server_command
from tether.errors import CodeServerError
from tether.workspace import load_workspace

sys.path.insert(0, str(JOBS))
import tether_jobs

MEASURES = ("import", "per-op", "code-server", "launch", "events", "backfill")
THROUGHPUT_RUNS = 20
# the partitions of the ``daily`` job one backfill runs: few, as each of Dagster's runs takes
# seconds of CPU (a process for the run and one for its step)
BACKFILL_PARTITIONS = 10
LAUNCH = 'mutation($job: String!) { launchRun(jobName: $job) { id } }'
STATUS = "query($id: ID!) { run(id: $id) { status } }"
STATUSES = "query($limit: Int) { runs(limit: $limit) { id status } }"
# the seq of an event of the run, and how many of emit's lines are stored
STEP_START = sa.text("SELECT seq, timestamp FROM events WHERE run_id = :run "
                     "AND type = 'STEP_START' AND step_key = 'emit'")
NEWEST_SEQ = sa.text("SELECT max(seq) FROM events WHERE run_id = :run AND attempt = 1")
LOG_LINES = sa.text("SELECT count(*) FROM events WHERE run_id = :run "
                    "AND type = 'LOG_MESSAGE' AND step_key = 'emit'")


@dataclass(frozen=True)
class Plan:
    """Samples per measure; Dagster's deployment measures take seconds each."""

    imports: int = 5
    per_op: int = 5
    code_server: int = 5
    dagster_launches: int = 5
    tether_launches: int = 10
    dagster_throughput: int = 1
    tether_throughput: int = 3
    dagster_events: int = 1
    tether_events: int = 5


QUICK = Plan(imports=3, per_op=3, code_server=3, dagster_launches=2, tether_launches=5,
             tether_throughput=1, tether_events=1)


@dataclass(frozen=True)
class Target:
    below: float | None = None
    at_least: float | None = None

    def met(self, value: float) -> bool:
        if self.below is not None:
            return value < self.below
        assert self.at_least is not None
        return value >= self.at_least

    def __str__(self) -> str:
        return f"< {self.below:g}" if self.below is not None else f">= {self.at_least:,g}"


@dataclass(frozen=True)
class Row:
    measure: str
    unit: str
    dagster: list[float]
    tether: list[float]
    target: Target | None = None


# -- the cheap measures: subprocesses and in-process execution ------------------------------


def time_command(argv: list[str | Path], samples: int) -> list[float]:
    seconds = []
    for _ in range(samples):
        start = time.perf_counter()
        subprocess.run(argv, check=True)
        seconds.append(time.perf_counter() - start)
    return seconds


def imports(python: Path, plan: Plan) -> list[Row]:
    return [Row("`import dagster` vs `import tether`, fresh interpreter", "s",
                time_command([python, "-c", "import dagster"], plan.imports),
                time_command([sys.executable, "-c", "import tether"], plan.imports))]


def tether_execution_seconds(job: str) -> float:
    from tether.sdk import RunEmitter, execute_job
    from tether.wire import RunEvent

    # the events stay in memory, as in Dagster's execute_in_process (an ephemeral instance)
    events: list[RunEvent] = []
    emitter = RunEmitter(run_id="bench", attempt=1, sink=events.append)
    start = time.perf_counter()
    assert execute_job(tether_jobs.defs, job, emitter=emitter)
    return time.perf_counter() - start


def per_op(python: Path, plan: Plan) -> list[Row]:
    """(t50 - t1) / 49 per sample: the 50-op fan-out against the 1-op job, in process."""
    dagster = probe(python, "per-op", "--samples", str(plan.per_op))
    tether: dict[str, list[float]] = {}
    for job in ("one_op", "fan_out"):
        tether_execution_seconds(job)  # warm-up, as the probe does for Dagster
        tether[job] = [tether_execution_seconds(job) for _ in range(plan.per_op)]
    return [Row("per-op overhead, 50-op fan-out, executed in process", "ms",
                _per_op_ms(dagster), _per_op_ms(tether), Target(below=1.0))]


def _per_op_ms(seconds: dict[str, list[float]]) -> list[float]:
    pairs = zip(seconds["one_op"], seconds["fan_out"], strict=True)
    return [(t50 - t1) / tether_jobs.LEAVES * 1000 for t1, t50 in pairs]


def tether_code_server(samples: int) -> tuple[list[float], list[float]]:
    """Seconds from spawning ``tether code-server serve`` for the ``hello`` example until it
    has answered GetSnapshot, and its RSS then (MB)."""
    [spec] = load_workspace(EXAMPLE_WORKSPACE)
    seconds, rss = [], []
    for _ in range(samples):
        port = free_port()
        start = time.perf_counter()
        server = subprocess.Popen(code_server_command(spec, port), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            asyncio.run(_snapshot_answered(f"127.0.0.1:{port}", server))
            seconds.append(time.perf_counter() - start)
            rss.append(rss_bytes(tree_pids(server.pid)) / 2**20)
        finally:
            server.terminate()
            server.wait(30)
    return seconds, rss


async def _snapshot_answered(address: str, server: subprocess.Popen[bytes]) -> None:
    # a new channel per attempt, polled every 10 ms as the Dagster probe does: one channel's
    # reconnect backoff would add its own delay to the figure
    while True:
        async with CodeServerClient(address) as client:
            try:
                await client.ping(timeout=5)
            except CodeServerError:
                assert server.poll() is None, f"code server exited with {server.returncode}"
                await asyncio.sleep(0.01)
                continue
            snapshot = await client.get_snapshot()
            assert snapshot.jobs, "the snapshot came without its jobs"
            return


def code_server(python: Path, plan: Plan) -> list[Row]:
    dagster = probe(python, "code-server", "--file", str(JOBS / "dagster_hello.py"),
                    "--samples", str(plan.code_server))
    seconds, rss = tether_code_server(plan.code_server)
    return [Row("code server spawn -> snapshot answered, hello example", "s",
                dagster["seconds"], seconds, Target(below=0.3)),
            Row("code server RSS once it answered", "MB", dagster["rss_mb"], rss,
                Target(below=50))]


# -- launch -> SUCCESS and throughput on running deployments --------------------------------


def tether_launch(running: Deployment, job: str) -> str:
    return str(running.graphql(LAUNCH, job=job)["launchRun"]["id"])


def tether_latency(running: Deployment, samples: int) -> list[float]:
    def once() -> float:
        start = time.perf_counter()
        run_id = tether_launch(running, "one_op")
        while running.graphql(STATUS, id=run_id)["run"]["status"] != "SUCCESS":
            time.sleep(0.005)
        return time.perf_counter() - start

    once()  # the warm launcher starts its zygote on the first launch
    return [once() for _ in range(samples)]


def dagster_latency(dev: DagsterDev, samples: int) -> list[float]:
    def once() -> float:
        start = time.perf_counter()
        run_id = dev.launch("one_op")
        while (status := dev.status(run_id)) != "SUCCESS":
            assert status != "FAILURE", dev.output()
            time.sleep(0.05)
        return time.perf_counter() - start

    once()
    return [once() for _ in range(samples)]


def throughput(launch: Callable[[], str], statuses: Callable[[list[str]], list[str]],
               poll: float) -> tuple[float, float]:
    """Runs/s of ``THROUGHPUT_RUNS`` runs launched at once until all are SUCCESS, and the
    peak RSS (MB) of every process this benchmark has started meanwhile (the whole system
    under test: for Tether its broker too)."""
    with PeakRss(lambda: [os.getpid()]) as rss:
        start = time.perf_counter()
        run_ids = [launch() for _ in range(THROUGHPUT_RUNS)]
        while (done := statuses(run_ids)) != ["SUCCESS"] * THROUGHPUT_RUNS:
            assert "FAILURE" not in done, done
            time.sleep(poll)
        elapsed = time.perf_counter() - start
    return THROUGHPUT_RUNS / elapsed, rss.peak / 2**20


def tether_statuses(running: Deployment, run_ids: list[str]) -> list[str]:
    runs = running.graphql(STATUSES, limit=len(run_ids))["runs"]
    by_id = {run["id"]: run["status"] for run in runs}
    return [by_id.get(run_id, "MISSING") for run_id in run_ids]


def tether_throughput(running: Deployment, samples: int) -> list[tuple[float, float]]:
    return [throughput(lambda: tether_launch(running, "one_op"),
                       lambda ids: tether_statuses(running, ids), 0.02)
            for _ in range(samples)]


def launch(python: Path, plan: Plan, immediate: bool) -> list[Row]:
    with dagster_dev(python, immediate=immediate) as dev:
        dagster_seconds = dagster_latency(dev, plan.dagster_launches)
        dagster_rates = [throughput(lambda: dev.launch("one_op"), dev.statuses, 0.5)
                         for _ in range(plan.dagster_throughput)]
    tether: dict[str, tuple[list[float], list[tuple[float, float]]]] = {}
    for launcher in ("warm", "process"):
        with deployment(workspace=JOBS / "workspace.toml",
                        env={"TETHER_RUN_LAUNCHER": launcher}) as running:
            tether[launcher] = (tether_latency(running, plan.tether_launches),
                                tether_throughput(running, plan.tether_throughput))
    dagster_runs = [rate for rate, _ in dagster_rates]
    dagster_rss = [peak for _, peak in dagster_rates]
    rows = []
    for launcher, name, target in (("warm", "warm launcher", 0.10),
                                   ("process", "cold process launcher", 0.5)):
        rows.append(Row(f"launch -> SUCCESS, 1-op job, Tether {name}", "s",
                        dagster_seconds, tether[launcher][0], Target(below=target)))
    for launcher, name, runs_target in (("warm", "warm", Target(at_least=20)),
                                        ("process", "cold", None)):
        samples = tether[launcher][1]
        rows.append(Row(f"{THROUGHPUT_RUNS} runs launched at once, runs/s, Tether {name}",
                        "runs/s", dagster_runs, [rate for rate, _ in samples], runs_target))
        rows.append(Row(f"  peak RSS of the whole process tree meanwhile, Tether {name}",
                        "MB", dagster_rss, [peak for _, peak in samples]))
    return rows


# -- a backfill: its runs created, and executed ---------------------------------------------

TETHER_BACKFILL = """mutation($to: String!) {
  launchBackfill(jobName: "daily", from: "2024-01-01", to: $to) { id } }"""
TETHER_BACKFILL_STATE = """query($id: ID!) {
  backfill(id: $id) { status counts { status count } } }"""


def _days(count: int) -> list[str]:
    return [(date(2024, 1, 1) + timedelta(days=n)).isoformat() for n in range(count)]


def _backfilled(statuses: Callable[[], tuple[bool, bool]], poll: float
                ) -> tuple[float, float]:
    """Seconds until ``statuses()`` says every run is created, and runs/s until every run
    succeeded (``statuses()``: (all created, all succeeded))."""
    start = time.perf_counter()
    created_at = None
    while True:
        created, succeeded = statuses()
        if created and created_at is None:
            created_at = time.perf_counter() - start
        if succeeded:
            break
        time.sleep(poll)
    assert created_at is not None
    return created_at, BACKFILL_PARTITIONS / (time.perf_counter() - start)


def tether_backfill(running: Deployment) -> tuple[float, float]:
    days = _days(BACKFILL_PARTITIONS)
    backfill_id = running.graphql(TETHER_BACKFILL, to=days[-1])["launchBackfill"]["id"]

    def statuses() -> tuple[bool, bool]:
        state = running.graphql(TETHER_BACKFILL_STATE, id=backfill_id)["backfill"]
        counts = {c["status"]: c["count"] for c in state["counts"]}
        assert state["status"] not in ("FAILED", "CANCELED"), state
        return "NOT_CREATED" not in counts, state["status"] == "COMPLETED"

    return _backfilled(statuses, 0.05)


def dagster_backfill(dev: DagsterDev) -> tuple[float, float]:
    backfill_id = dev.backfill("daily", _days(BACKFILL_PARTITIONS))

    def statuses() -> tuple[bool, bool]:
        found = dev.backfill_statuses(backfill_id)
        assert "FAILURE" not in found, dev.output()
        return (len(found) == BACKFILL_PARTITIONS,
                found == ["SUCCESS"] * BACKFILL_PARTITIONS)

    return _backfilled(statuses, 0.5)


def backfill(python: Path, immediate: bool) -> list[Row]:
    with dagster_dev(python, immediate=immediate) as dev:
        dagster = dagster_backfill(dev)
    with deployment(workspace=JOBS / "workspace.toml",
                    env={"TETHER_RUN_LAUNCHER": "warm"}) as running:
        tether_launch(running, "one_op")  # the warm launcher starts its zygote
        tether = tether_backfill(running)
    return [Row(f"backfill of {BACKFILL_PARTITIONS} daily partitions: all runs created, "
                "Tether warm launcher", "s", [dagster[0]], [tether[0]]),
            Row("  same backfill, runs/s until all SUCCESS", "runs/s", [dagster[1]],
                [tether[1]])]


# -- events stored/s from one run worker -----------------------------------------------------


@dataclass(frozen=True)
class EventRates:
    """Lines/s of one ``log_lines`` run, counted from the launch and from the step's start
    (by the run worker's clock) until the database held every line."""

    from_launch: float
    from_step_start: float


def tether_events(running: Deployment, samples: int) -> list[EventRates]:
    engine = sa.create_engine(running.env["TETHER_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            # untimed: the first launch also starts the location's zygote, which this
            # measure of ingestion is not about (Dagster's first run is timed as it comes)
            _tether_events_once(running, conn)
            return [_tether_events_once(running, conn) for _ in range(samples)]
    finally:
        engine.dispose()


def _tether_events_once(running: Deployment, conn: sa.Connection) -> EventRates:
    start = time.perf_counter()
    run_id = tether_launch(running, "log_lines")
    step_seq = step_started = None
    # the newest seq is one index probe, cheap to poll; the lines follow STEP_START's seq,
    # and the count (a scan of the run's rows) confirms they are all there
    while True:
        if step_seq is None and (row := conn.execute(STEP_START, {"run": run_id}).first()):
            step_seq, step_started = row
        newest = conn.execute(NEWEST_SEQ, {"run": run_id}).scalar_one()
        if (step_seq is not None and (newest or 0) >= step_seq + tether_jobs.LINES
                and conn.execute(LOG_LINES, {"run": run_id}).scalar_one() == tether_jobs.LINES):
            break
        conn.rollback()
        time.sleep(0.01)
    elapsed, now = time.perf_counter() - start, time.time()
    conn.rollback()
    running.wait_for(lambda: running.graphql(STATUS, id=run_id)["run"]["status"] == "SUCCESS",
                     what="log_lines SUCCESS")
    assert step_started is not None
    return EventRates(tether_jobs.LINES / elapsed, tether_jobs.LINES / (now - step_started))


def dagster_events(dev: DagsterDev, samples: int) -> list[EventRates]:
    rates = []
    for _ in range(samples):
        start = time.perf_counter()
        run_id = dev.launch("log_lines")
        # a count takes ~10 ms of the 2 cores; twice a second is 1/80 of a ~40 s run
        while dev.stored_log_lines(run_id) < tether_jobs.LINES:
            time.sleep(0.5)
        elapsed, now = time.perf_counter() - start, time.time()
        rates.append(EventRates(tether_jobs.LINES / elapsed,
                                tether_jobs.LINES / (now - dev.step_started(run_id, "emit"))))
        while dev.status(run_id) != "SUCCESS":
            time.sleep(0.5)
    return rates


def events(python: Path, plan: Plan, immediate: bool) -> list[Row]:
    with dagster_dev(python, immediate=immediate) as dev:
        dagster = dagster_events(dev, plan.dagster_events)
    databases = ["SQLite"] + (["PostgreSQL"] if reachable("127.0.0.1", 5432) else [])
    rows = []
    for name in databases:
        with fresh_database(name) as url, \
                deployment(database_url=url, workspace=JOBS / "workspace.toml",
                           env={"TETHER_RUN_LAUNCHER": "warm"}) as running:
            tether = tether_events(running, plan.tether_events)
        # Dagster runs on its default SQLite instance only
        theirs = dagster if name == "SQLite" else []
        rows += [
            Row(f"{tether_jobs.LINES:,} context.log lines stored/s, launch -> all stored, "
                f"{name}", "events/s", [r.from_launch for r in theirs],
                [r.from_launch for r in tether], Target(at_least=20_000)),
            Row(f"  same runs, from the op's STEP_START -> all stored, {name}", "events/s",
                [r.from_step_start for r in theirs], [r.from_step_start for r in tether],
                Target(at_least=20_000)),
        ]
    return rows


# -- the table ------------------------------------------------------------------------------


def _figure(samples: list[float], unit: str) -> str:
    if not samples:
        return "—"
    value = statistics.median(samples)
    text = {"s": f"{value:.3f} s", "ms": f"{value:.3f} ms", "MB": f"{value:.0f} MB",
            "runs/s": f"{value:.2f} runs/s", "events/s": f"{value:,.0f}/s"}[unit]
    return f"{text} (n={len(samples)})"


def _ratio(value: float) -> str:
    return f"{value:,.0f}x" if value >= 100 else f"{value:.3g}x"


def print_table(rows: list[Row], dagster_version: str) -> None:
    print(f"\n| measure | Dagster {dagster_version} | Tether | Dagster/Tether "
          f"| Tether target | met |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        ratio = (_ratio(statistics.median(row.dagster) / statistics.median(row.tether))
                 if row.dagster and row.tether else "—")
        target = f"{row.target} {row.unit}" if row.target else "—"
        met = ("yes" if row.target.met(statistics.median(row.tether)) else "NO") \
            if row.target else ""
        print(f"| {row.measure} | {_figure(row.dagster, row.unit)} "
              f"| {_figure(row.tether, row.unit)} | {ratio} | {target} | {met} |")
    print("\nmedians, n = samples; runs/s and events/s: higher is better, so a Dagster/Tether "
          "ratio below 1 is Tether ahead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--measures", nargs="+", choices=MEASURES, default=list(MEASURES))
    parser.add_argument("--venv", type=Path, default=Path(__file__).parent / ".dagster-venv",
                        help="the throwaway virtualenv for Dagster (created if needed)")
    parser.add_argument("--dagster-immediate", action="store_true",
                        help="Dagster's DefaultRunCoordinator (launch at once) instead of its "
                             "default QueuedRunCoordinator (the daemon dequeues every 5 s)")
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    python = ensure_venv(args.venv)
    version = subprocess.run([python, "-c", "import dagster; print(dagster.__version__)"],
                             check=True, capture_output=True, text=True).stdout.strip()
    started = time.perf_counter()
    rows: list[Row] = []
    for measure in args.measures:
        print(f"measuring {measure} ...", file=sys.stderr, flush=True)
        if measure == "import":
            rows += imports(python, plan)
        elif measure == "per-op":
            rows += per_op(python, plan)
        elif measure == "code-server":
            rows += code_server(python, plan)
        elif measure == "launch":
            rows += launch(python, plan, args.dagster_immediate)
        elif measure == "backfill":
            rows += backfill(python, args.dagster_immediate)
        else:
            rows += events(python, plan, args.dagster_immediate)
    print_table(rows, version)
    print(f"{os.cpu_count()} CPUs; measured in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
