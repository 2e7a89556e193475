"""Server-side time of an asset's page whose asset has 100,000 hourly partitions (its partition
bar, counts and failed partitions), on SQLite and on PostgreSQL (when 127.0.0.1:5432 answers),
against the page of an unpartitioned asset and ``/healthz`` in the same run.

The status rows are seeded into the projection's table directly (60% of the partitions
materialized, 1% failed, 100 in progress), as the event ingest would have left them; a
partitioned asset's page reads them all, enumerates the definition's keys (cached per
definition after the first page of a process) and draws the bar. The first request after
the app starts is reported apart (cold: the keys are enumerated), then the median of the
others.

    .venv/bin/python bench/partition_status.py [--partitions 100000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from _harness import fresh_database, signed_in
from tests.conftest import reachable

from tether import Definitions, HourlyPartitionsDefinition, asset, define_asset_job
from tether.control_plane.storage import Store, metadata
from tether.partitions import partition_keys
from tether.sdk import snapshot_definitions
from tether.wire import LocationLoaded, LocationSpec


def seed(store: Store, partitions: int) -> None:
    start = (datetime.now(UTC) - timedelta(hours=partitions + 1)).replace(
        minute=0, second=0, microsecond=0, tzinfo=None)
    hourly = HourlyPartitionsDefinition(start)

    @asset(partitions_def=hourly)
    def events() -> int:
        return 1

    @asset
    def plain() -> int:
        return 1

    defs = Definitions(assets=[events, plain], jobs=[define_asset_job("hourly", [events])])
    store.deploy_location(LocationSpec(name="bench", module="bench.defs"))
    [load] = store.claim_work("bench-agent", ["default"], 1, 600)
    store.store_results([LocationLoaded(
        work_id=load.work_id, epoch=load.epoch, location="bench",
        snapshot=snapshot_definitions(defs, "bench"),
        generation=load.payload.generation)])  # type: ignore[union-attr]
    keys = partition_keys(hourly.snapshot, now=time.time())
    table = metadata.tables["asset_partitions"]
    rows: list[dict[str, Any]] = []
    for index, key in enumerate(keys):
        state = ("FAILED" if index % 100 == 7 else "IN_PROGRESS" if index >= len(keys) - 100
                 else "MATERIALIZED" if index % 5 < 3 else None)
        if state is not None:
            rows.append({"asset_key": "events", "partition": key, "status": state,
                         "last_run_id": f"run-{index % 977}",
                         "materialized_run_id": f"run-{index % 977}"
                         if state == "MATERIALIZED" else None, "updated_at": time.time()})
    with store.engine.begin() as conn:
        for at in range(0, len(rows), 5000):
            conn.execute(table.insert(), rows[at:at + 5000])
    print(f"  {len(keys):,} partitions, {len(rows):,} status rows", flush=True)


async def measure(url: str, partitions: int, repeat: int) -> dict[str, float]:
    store = Store.from_url(url)
    store.migrate()
    seed(store, partitions)
    token = store.create_token("user", role="admin", name="bench")
    results: dict[str, float] = {}
    async with signed_in(url, token) as client:
        started = time.perf_counter()
        first = await client.get("/assets/bench/events")
        results["partitioned asset page, first request (cold)"] = (
            time.perf_counter() - started) * 1000
        assert first.status_code == 200 and 'class="partition-bar"' in first.text
        pages = {"/healthz (baseline)": "/healthz",
                 "unpartitioned asset page (baseline)": "/assets/bench/plain",
                 f"asset page, {partitions:,} partitions": "/assets/bench/events"}
        for name, path in pages.items():
            results[name] = await timed(client, path, repeat)
    store.close()
    return results


async def timed(client: httpx.AsyncClient, path: str, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = await client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    databases = ["SQLite"] + (["PostgreSQL"] if reachable("127.0.0.1", 5432) else [])
    for name in databases:
        print(f"{name}:", flush=True)
        with fresh_database(name) as url:
            results = asyncio.run(measure(url, args.partitions, args.repeat))
        baseline = results["/healthz (baseline)"]
        plain = results["unpartitioned asset page (baseline)"]
        print(f"  {'page':<48} {'median':>10} {'/healthz':>9} {'/plain page':>12}")
        for page, ms in results.items():
            print(f"  {page:<48} {ms:>8.1f} ms {ms / baseline:>8.1f}x {ms / plain:>11.1f}x")


if __name__ == "__main__":
    main()
