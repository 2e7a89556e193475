"""Events/s from the agent's broker into the control plane's database, through the uploaders.

Fills `tether:out:events` with N run events (context.log lines of a few started runs) while
the uploaders are paused (SIGSTOP), resumes them, and times until the control plane has
stored every event. Measured with 1 and 3 uploaders, on SQLite and on PostgreSQL (when
127.0.0.1:5432 answers), in one run; the 1-uploader SQLite figure is the baseline of the
ratios.

    .venv/bin/python bench/event_ingest.py [--events 100000]
"""

from __future__ import annotations

import argparse
import os
import signal
import time

import redis
import sqlalchemy as sa
from _harness import deployment, fresh_database
from tests.conftest import reachable

from tether.broker import entry_fields, keys
from tether.control_plane.storage import Store
from tether.wire import (
    JobSnapshot,
    LoadLocation,
    LocationLoaded,
    LocationSnapshot,
    LocationSpec,
    LogMessage,
)

RUNS = 20
QUIET = {"TETHER_LOG_LEVEL": "WARNING"}


def started_runs(store: Store, count: int) -> list[str]:
    """Runs of a loaded location, claimed by an agent, as a real deployment has them."""
    store.deploy_location(LocationSpec(name="bench", module="bench.defs"))
    [load] = store.claim_work("bench-agent", ["default"], 1, 600)
    snapshot = LocationSnapshot(location="bench", jobs=[JobSnapshot(name="logs")])
    assert isinstance(load.payload, LoadLocation)
    store.store_results([LocationLoaded(work_id=load.work_id, epoch=load.epoch,
                                        location="bench", snapshot=snapshot,
                                        generation=load.payload.generation)])
    runs = [store.launch_run("logs") for _ in range(count)]
    store.claim_work("bench-agent", ["default"], count, 600)
    return runs


def fill(redis_url: str, runs: list[str], events: int) -> None:
    client = redis.Redis.from_url(redis_url)
    per_run = events // len(runs)
    pipe = client.pipeline(transaction=False)
    for run_id in runs:
        for seq in range(1, per_run + 1):
            event = LogMessage(run_id=run_id, attempt=1, seq=seq, timestamp=time.time(),
                               step_key="emit", level="INFO", message=f"row {seq} processed")
            pipe.xadd(keys.OUT_EVENTS, entry_fields(event))  # type: ignore[arg-type]
            if len(pipe) >= 5000:
                pipe.execute()
    pipe.execute()
    client.close()


def measure(database_url: str, uploaders: int, events: int) -> float:
    store = Store.from_url(database_url)
    store.migrate()
    runs = started_runs(store, RUNS)
    try:
        with deployment(database_url=database_url, processes=("control-plane", "uploader"),
                        copies={"uploader": uploaders}) as running:
            redis_url = running.env["TETHER_REDIS_URL"]
            time.sleep(1.0)  # the uploaders have created their consumer groups
            pids = [p.pid for n, p in running.processes.items() if n.startswith("uploader")]
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            fill(redis_url, runs, events)
            expected = events // RUNS * RUNS
            with store.engine.connect() as conn:
                first_id = _newest_id(conn)
                start = time.perf_counter()
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
                _wait_until_stored(conn, expected, first_id)
            return expected / (time.perf_counter() - start)
    finally:
        store.close()


def _newest_id(conn: sa.Connection) -> int:
    newest: int = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM events")).scalar_one()
    conn.rollback()
    return newest


def _wait_until_stored(conn: sa.Connection, expected: int, first_id: int) -> None:
    """Until ``expected`` events with a seq are stored after ``first_id``. Polls the newest id
    (one index probe) until the count can have been reached: counting the rows scans the table,
    and doing that 20 times a second took a tenth of a core from the system being measured.
    Each stored event has an id of its own, so the newest id reaches ``first_id + expected``
    no later than the count reaches ``expected``."""
    count = sa.text("SELECT count(*) FROM events WHERE seq IS NOT NULL")
    while not (_newest_id(conn) >= first_id + expected
               and conn.execute(count).scalar_one() >= expected):
        conn.rollback()
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    databases = ["SQLite"] + (["PostgreSQL"] if reachable("127.0.0.1", 5432) else [])
    results: dict[tuple[str, int], float] = {}
    for name in databases:
        for uploaders in (1, 3):
            with fresh_database(name) as url:
                rate = measure(url, uploaders, args.events)
            results[(name, uploaders)] = rate
            print(f"{name:<10} {uploaders} uploader(s): {rate:9,.0f} events/s", flush=True)
    baseline = results[("SQLite", 1)]
    print("\nratios to SQLite with 1 uploader:")
    for (name, uploaders), rate in results.items():
        print(f"  {name:<10} {uploaders} uploader(s): {rate / baseline:.2f}x")


if __name__ == "__main__":
    main()
