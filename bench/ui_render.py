"""Server-side time of the web UI's heaviest pages: the runs list with 100,000 runs, the page
of a run with 50,000 events and the search of its log, on SQLite and on PostgreSQL (when
127.0.0.1:5432 answers). The run page and the search are also measured on a run of 500 events
in the same database: the ratios say what 100 times the events cost.

The database is seeded through the store's engine and tables (runs) and through
``Store.store_events`` (the run's events, as the uploader stores them). Each page is requested
through the app in process (httpx's ASGI transport, so no network), signed in as a browser
is; the median of the requests is compared with ``/healthz`` in the same run.

    .venv/bin/python bench/ui_render.py [--runs 100000] [--events 50000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import httpx
from _harness import fresh_database, signed_in
from tests.conftest import reachable

from tether.control_plane.storage import Store, metadata
from tether.wire import (
    JobSnapshot,
    LocationLoaded,
    LocationSnapshot,
    LocationSpec,
    LogMessage,
    OpNodeSnapshot,
    RunEvent,
    RunStart,
    StepStart,
    StepSuccess,
)

STATUSES = ["SUCCESS"] * 8 + ["FAILURE", "CANCELED"]
STEPS = 10


def seed_runs(store: Store, count: int) -> None:
    """``count`` finished runs a second apart, one in ten tagged team=data."""
    runs, tags = metadata.tables["runs"], metadata.tables["run_tags"]
    start = time.time() - count
    batch: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    with store.engine.begin() as conn:
        for i in range(count):
            run_id = str(uuid.uuid4())
            created = start + i
            tagged = i % 10 == 0
            batch.append({
                "run_id": run_id, "job_name": f"job_{i % 7}", "location": "bench",
                "status": STATUSES[i % len(STATUSES)], "attempt": 1, "run_config": "{}",
                "tags": '{"team":"data"}' if tagged else "{}", "created_at": created,
                "updated_at": created + 2, "start_time": created + 0.2, "end_time": created + 2,
                "error": None, "steps_succeeded": 3, "steps_failed": 0})
            if tagged:
                tag_rows.append({"run_id": run_id, "key": "team", "value": "data",
                                 "created_at": created})
            if len(batch) == 5000:
                conn.execute(runs.insert(), batch)
                batch = []
        if batch:
            conn.execute(runs.insert(), batch)
        if tag_rows:
            conn.execute(tags.insert(), tag_rows)


# one line of the big run's log (in its middle step) that the search looks for
NEEDLE = "checksum mismatch in part 7"


def seed_location(store: Store) -> None:
    nodes = [OpNodeSnapshot(name=f"step_{i}", op=f"step_{i}") for i in range(STEPS)]
    store.deploy_location(LocationSpec(name="bench", module="bench.defs"))
    [load] = store.claim_work("bench-agent", ["default"], 1, 600)
    store.store_results([LocationLoaded(
        work_id=load.work_id, epoch=load.epoch, location="bench",
        snapshot=LocationSnapshot(location="bench", jobs=[JobSnapshot(name="big", nodes=nodes)]),
        generation=load.payload.generation)])  # type: ignore[union-attr]


def seed_big_run(store: Store, events: int) -> str:
    """A run of the loaded location with ``events`` events over STEPS steps, one of them
    NEEDLE, stored in batches of 1,000 as the uploader stores them."""
    run_id = store.launch_run("big")
    store.claim_work("bench-agent", ["default"], 1, 600)
    t = time.time()
    made: list[RunEvent] = [RunStart(run_id=run_id, attempt=1, seq=1, timestamp=t,
                                     job_name="big")]
    per_step = (events - 1) // STEPS
    for step in range(STEPS):
        key = f"step_{step}"
        made.append(StepStart(run_id=run_id, attempt=1, seq=len(made) + 1,
                              timestamp=t + len(made) * 1e-3, step_key=key))
        for line in range(per_step - 2):
            made.append(LogMessage(run_id=run_id, attempt=1, seq=len(made) + 1,
                                   timestamp=t + len(made) * 1e-3, step_key=key,
                                   level="WARNING" if line % 50 == 0 else "INFO",
                                   message=NEEDLE if step == STEPS // 2 and line == per_step // 2
                                   else f"{key}: row {line} processed"))
        made.append(StepSuccess(run_id=run_id, attempt=1, seq=len(made) + 1,
                                timestamp=t + len(made) * 1e-3, step_key=key, duration=1.0))
    for i in range(0, len(made), 1000):
        store.store_events(made[i:i + 1000])
    return run_id


async def timed(client: httpx.AsyncClient, path: str, repeat: int) -> float:
    """Median milliseconds of ``repeat`` requests of ``path`` (after one warm-up)."""
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = await client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return statistics.median(samples)


async def measure(url: str, runs: int, events: int, repeat: int) -> dict[str, float]:
    store = Store.from_url(url)
    store.migrate()
    started = time.perf_counter()
    seed_location(store)
    small_id = seed_big_run(store, 500)
    run_id = seed_big_run(store, events)
    seed_runs(store, runs - 2)
    print(f"  seeded {runs:,} runs and {events:,} events in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    token = store.create_token("user", role="admin", name="bench")
    async with signed_in(url, token) as client:
        deep = store.list_runs(1, before=(time.time() - runs + 100, ""))[0]
        cursor = f"{deep.created_at!r}_{deep.run_id}"
        print(f"  the big run has {store.events_page(run_id, limit=1)[1]:,} events",
              flush=True)
        # where an open run page's script polls from: the newest event it shows
        newest = store.events_page(run_id, limit=1)[2]
        needle = NEEDLE.replace(" ", "+")
        pages = {
            "/healthz (baseline)": "/healthz",
            "runs, first page": "/runs",
            "runs, a page 99,900 runs deep": f"/runs?before={cursor}",
            "runs, status=FAILURE": "/runs?status=FAILURE",
            "runs, tag team=data": "/runs?tag=team%3Ddata",
            "run with 50,000 events": f"/runs/{run_id}",
            "same, level=WARNING": f"/runs/{run_id}?level=WARNING",
            "same, step_9 only": f"/runs/{run_id}?step=step_9",
            "run page's live update (each 1 s)":
                f"/runs/{run_id}/updates?after_id={newest}",
            "run with 500 events (baseline)": f"/runs/{small_id}",
            "search 500 events (baseline)": f"/runs/{small_id}/events?q={needle}",
            "search 50,000 events, 1 match": f"/runs/{run_id}/events?q={needle}",
            "search 50,000 events, also by step":
                f"/runs/{run_id}/events?q={needle}&step=step_5",
            "search 50,000 events, ~11,000 matches":
                f"/runs/{run_id}/events?q=row+1",
            "run page searched, 1 match": f"/runs/{run_id}?q={needle}",
        }
        results = {name: await timed(client, path, repeat)
                   for name, path in pages.items()}
    store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    databases = ["SQLite"] + (["PostgreSQL"] if reachable("127.0.0.1", 5432) else [])
    for name in databases:
        print(f"{name}:", flush=True)
        with fresh_database(name) as url:
            results = asyncio.run(measure(url, args.runs, args.events, args.repeat))
        baseline = results["/healthz (baseline)"]
        page_500 = results["run with 500 events (baseline)"]
        search_500 = results["search 500 events (baseline)"]
        print(f"  {'page':<40} {'median':>10} {'/healthz':>9} {'/500 events':>12}")
        for page, ms in results.items():
            # the run page's figures against the 500-event page, the searches against its search
            small = search_500 if "search" in page and "page" not in page else (
                page_500 if "run" in page and "runs" not in page else None)
            versus = f"{ms / small:11.1f}x" if small else ""
            print(f"  {page:<40} {ms:8.1f} ms {ms / baseline:8.1f}x {versus}", flush=True)


if __name__ == "__main__":
    main()
