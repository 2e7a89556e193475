"""Server-side time of the assets page and of one asset's page with 100,000 materialization
events, in a location of 10,000 assets, on SQLite and on PostgreSQL (when 127.0.0.1:5432
answers); the baseline is the same pages with 100 materialization events in a location of 100
assets, measured in the same run.

The location is the one ``assets_snapshot.py`` builds (two-part keys, 10 groups, each asset
reading up to three earlier ones), each asset with three check specs, snapshotted in process
and stored as an agent's load result.
The events go through ``Store.store_events`` in batches of 1,000, as the uploader stores them:
100 runs of the asset job, each starting, materializing (with a row count) and succeeding
steps, each materialization followed by a result of one of its asset's checks (every
seventh failing with ERROR severity, every eleventh with WARN). Half of the materializations
are of one hot asset (its page is the worst case: the newest 50 of 50,000), the rest spread
over all the assets; a few runs fail a step or are still running, so the lineage has every
status. Each page is requested through the app in process
(httpx's ASGI transport, no network) as a signed-in browser; the median is reported next to
``/healthz`` and to the same page in the small database.

    .venv/bin/python bench/asset_pages.py [--assets 10000] [--events 100000] [--repeat 15]
                                          [--database SQLite --database PostgreSQL]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from _harness import fresh_database, signed_in
from assets_snapshot import definitions, key
from tests.conftest import reachable

from tether.control_plane.storage import Store
from tether.sdk import Definitions, snapshot_definitions
from tether.wire import (
    AssetCheckEvaluation,
    AssetMaterialization,
    ErrorInfo,
    IntValue,
    LocationLoaded,
    LocationSnapshot,
    LocationSpec,
    RunEvent,
    RunFailure,
    RunStart,
    RunSuccess,
    StepFailure,
    StepStart,
    StepSuccess,
)

RUNS = 100
HOT = 1
# the checks of every asset (specs its own step reports on: no more steps in the job)
CHECKS = ("has_rows", "unique_ids", "fresh")
_OWNERS = 'owners=["team:data"]'


def snapshot(assets: int, root: Path) -> LocationSnapshot:
    path = root / f"assets_{assets}.py"
    text = definitions(assets)
    assert _OWNERS in text, "assets_snapshot.definitions changed: give its assets checks again"
    text = text.replace(_OWNERS, f"{_OWNERS}, check_specs=[AssetCheckSpec(n) for n in "
                                 f"{CHECKS!r}]")
    path.write_text(f"from tether import AssetCheckSpec\n{text}")
    spec = importlib.util.spec_from_file_location(f"assets_{assets}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.defs, Definitions)
    return snapshot_definitions(module.defs, "bench")


def seed_location(store: Store, located: LocationSnapshot) -> None:
    store.deploy_location(LocationSpec(name="bench", module="bench.defs"))
    [load] = store.claim_work("bench-agent", ["default"], 1, 600)
    store.store_results([LocationLoaded(
        work_id=load.work_id, epoch=load.epoch, location="bench", snapshot=located,
        generation=load.payload.generation)])  # type: ignore[union-attr]


def seed_materializations(store: Store, assets: int, events: int) -> None:
    """``events`` materializations over RUNS runs: half of asset HOT's, the rest spread
    over every asset; each with its step's start and success. The last run fails a step,
    the one before is left running."""
    per_run = max(events // RUNS, 1)
    spread = 0
    for number in range(RUNS):
        run_id = store.launch_run("all")
        t = time.time() - (RUNS - number) * 60
        made: list[RunEvent] = [RunStart(run_id=run_id, attempt=1, seq=1, timestamp=t,
                                         job_name="all")]
        add = functools.partial(_append, made, run_id, t)

        for n in range(per_run):
            if n % 2 == 0:
                index = HOT
            else:
                index, spread = spread % assets, spread + 1
            step = key(index).replace("/", "__")
            add(StepStart, step_key=step)
            add(AssetMaterialization, asset_key=key(index), step_key=step,
                metadata={"rows": IntValue(value=number * 1000 + n)})
            serial = number * per_run + n
            add(AssetCheckEvaluation, asset_key=key(index), step_key=step,
                check_name=CHECKS[serial % len(CHECKS)],
                passed=serial % 7 != 0 and serial % 11 != 0,
                severity="WARN" if serial % 11 == 0 and serial % 7 != 0 else "ERROR")
            add(StepSuccess, step_key=step, duration=0.01)
        if number == RUNS - 1:
            step = key(assets - 1).replace("/", "__")
            add(StepStart, step_key=step)
            add(StepFailure, step_key=step, duration=0.01,
                error=ErrorInfo(class_name="ValueError", message="bad row"))
            add(RunFailure, message="step failed")
        elif number == RUNS - 2:
            add(StepStart, step_key=key(assets - 2).replace("/", "__"))
        else:
            add(RunSuccess)
        for i in range(0, len(made), 1000):
            store.store_events(made[i:i + 1000])


def _append(made: list[RunEvent], run_id: str, t: float, event_type: type[RunEvent],
            **fields: object) -> None:
    made.append(event_type(run_id=run_id, attempt=1, seq=len(made) + 1,  # type: ignore[call-arg]
                           timestamp=t + len(made) * 1e-4, **fields))


async def timed(client: httpx.AsyncClient, path: str, repeat: int) -> tuple[float, float]:
    """Median milliseconds of ``repeat`` requests of ``path`` (after one warm-up): wall
    clock, and the CPU time of this process (the app and its threads; less noisy when the
    machine's other work takes the cores)."""
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    wall, cpu = [], []
    for _ in range(repeat):
        started, used = time.perf_counter(), time.process_time()
        response = await client.get(path)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
        assert response.status_code == 200
    return statistics.median(wall), statistics.median(cpu)


async def measure(url: str, located: LocationSnapshot, assets: int, events: int,
                  repeat: int) -> dict[str, tuple[float, float]]:
    store = Store.from_url(url)
    store.migrate()
    started = time.perf_counter()
    seed_location(store, located)
    seed_materializations(store, assets, events)
    print(f"  {assets:,} assets, {events:,} materializations seeded in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    token = store.create_token("user", role="admin", name="bench")
    async with signed_in(url, token) as client:
        page = (await client.get("/assets")).text
        # every status is on the first page's lineage or a later one
        assert 'class="node materialized"' in page, page[:2000]
        pages = {
            "/healthz": "/healthz",
            "assets page (first 200)": "/assets",
            "assets page, last page": f"/assets?page={-(-assets // 200)}",
            "assets page, one group": "/assets?group=g3",
            "assets page, searched": "/assets?q=a99",
            "hot asset's page": f"/assets/bench/{key(HOT)}",
            "a typical asset's page": f"/assets/bench/{key(assets // 2)}",
        }
        results = {name: await timed(client, path, repeat)
                   for name, path in pages.items()}
    store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--baseline-assets", type=int, default=100)
    parser.add_argument("--baseline-events", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database", action="append", choices=["SQLite", "PostgreSQL"],
                        help="measure this database only (repeatable; default: both, "
                             "PostgreSQL when 127.0.0.1:5432 answers)")
    args = parser.parse_args()
    databases = args.database or (
        ["SQLite"] + (["PostgreSQL"] if reachable("127.0.0.1", 5432) else []))
    with tempfile.TemporaryDirectory() as tmp:
        small = snapshot(args.baseline_assets, Path(tmp))
        big = snapshot(args.assets, Path(tmp))
    for name in databases:
        print(f"{name}:", flush=True)
        with fresh_database(name) as url:
            base = asyncio.run(measure(url, small, args.baseline_assets,
                                       args.baseline_events, args.repeat))
        with fresh_database(name) as url:
            results = asyncio.run(measure(url, big, args.assets, args.events, args.repeat))
        healthz = results["/healthz"][0]
        print(f"  {'page':<28} {'baseline':>10} {'median':>10} {'cpu':>9} {'/healthz':>9} "
              f"{'/baseline':>10} {'<300 ms':>8}")
        for page, (ms, cpu) in results.items():
            print(f"  {page:<28} {base[page][0]:7.1f} ms {ms:7.1f} ms {cpu:6.1f} ms "
                  f"{ms / healthz:8.0f}x {ms / base[page][0]:9.1f}x "
                  f"{'yes' if ms < 300 else 'NO':>8}", flush=True)


if __name__ == "__main__":
    main()
