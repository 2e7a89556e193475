"""Scheduler overhead: N schedules that all tick every minute, through the whole path.

A generated code location defines N schedules on `* * * * *` (started from their first
deploy). The deployment runs the control plane, its daemons and the agent's poller,
supervisor and uploader on SQLite and an embedded Valkey; no launcher, so the runs stay
queued and only the scheduling path is measured: the scheduler's tick rows and work items,
the poller's claim, the code server evaluating each schedule's function, the uploader, and
the control plane creating the runs.

For each minute boundary it reports how long after the due time each schedule's run was
created (QUEUED): the lag, median and p99, and ticks evaluated per second (N over the time from
the due time to the last run created). The baseline, in the same run, is 1 schedule.

    .venv/bin/python bench/scheduler.py [--schedules 1000] [--minutes 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from _harness import deployment

PROCESSES = ("control-plane", "daemons", "poller", "supervisor", "uploader")
# a schedule's run is keyed by its tick's due time
RUNS = sa.text("SELECT created_at FROM runs WHERE run_key = :key")


def definitions(schedules: int) -> str:
    return f'''
from tether import Definitions, job, op, schedule


@op
def noop() -> None:
    pass


@job
def tick_job() -> None:
    noop()


def _make(i):
    @schedule(cron="* * * * *", job=tick_job, name=f"s{{i:04d}}", default_running=True)
    def tick(context):
        return None

    return tick


defs = Definitions(jobs=[tick_job], schedules=[_make(i) for i in range({schedules})])
'''


def measure(schedules: int, minutes: int) -> tuple[list[float], list[float]]:
    """(every lag in seconds, ticks per second of each minute)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "ticking.py").write_text(definitions(schedules))
        workspace = folder / "workspace.toml"
        workspace.write_text('[[locations]]\nname = "ticking"\npython_file = "ticking.py"\n'
                             f'working_directory = "{folder}"\n')
        # the daemons at their default interval: the scheduler wakes when a tick falls due.
        # No launcher completes the runs' launch items: their leases are made to outlast the
        # bench, or each minute's launches would be claimed again with the next minute's ticks
        with deployment(workspace=workspace, processes=PROCESSES,
                        env={"TETHER_LEASE_SECONDS": "900"}) as running:
            engine = sa.create_engine(running.env["TETHER_DATABASE_URL"])
            lags: list[float] = []
            rates: list[float] = []
            # the schedules start ticking from the first scheduler turn after the load
            first_due = (time.time() // 60 + 2) * 60
            for minute in range(minutes):
                due = first_due + 60 * minute
                created = _wait_for_runs(engine, due, schedules, deadline=due + 55)
                lags += [at - due for at in created]
                rates.append(schedules / max(max(created) - due, 1e-3))
                print(f"  {schedules} schedule(s), tick due "
                      f"{time.strftime('%H:%M', time.localtime(due))}: last run created "
                      f"{max(created) - due:.3f} s after", flush=True)
            engine.dispose()
            return lags, rates


def _wait_for_runs(engine: sa.Engine, due: float, expected: int, deadline: float) -> list[float]:
    while True:
        now = time.time()
        if now > due:
            with engine.connect() as conn:
                rows = conn.execute(RUNS, {"key": f"{due:.0f}"}).all()
            if len(rows) >= expected:
                return [row.created_at for row in rows]
            if now > deadline:
                raise AssertionError(f"only {len(rows)} of {expected} runs {now - due:.0f} s "
                                     "after their tick was due")
        time.sleep(0.2 if now > due else min(1.0, due - now))


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=2)
    args = parser.parse_args()
    base_lags, _ = measure(1, args.minutes)
    lags, rates = measure(args.schedules, args.minutes)
    base = statistics.median(base_lags)
    print(f"\n1 schedule (baseline): lag median {base * 1000:.0f} ms, max "
          f"{max(base_lags) * 1000:.0f} ms")
    print(f"{args.schedules} schedules: lag median {statistics.median(lags) * 1000:.0f} ms "
          f"({statistics.median(lags) / base:.1f}x), p99 {p99(lags) * 1000:.0f} ms "
          f"({p99(lags) / base:.1f}x); {statistics.median(rates):.0f} ticks evaluated/s")


if __name__ == "__main__":
    main()
