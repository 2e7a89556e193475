"""What the token bookkeeping (expiry check, last use at most once a minute) costs the agent's
hot path: event-batch uploads through the real app (POST /agent/v1/events, httpx's ASGI
transport), with the bookkeeping as shipped and with the last-use note switched off,
interleaved round by round in one run so that the machine's noise hits both alike. Also
times ``Store.authenticate`` alone and with ``Store.note_use``. SQLite, and PostgreSQL when
it answers.

    .venv/bin/python bench/token_overhead.py [--rounds 6] [--batches 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

import httpx
import msgspec
from _harness import fresh_database
from tests.conftest import reachable

from tether.control_plane._app import _build_app
from tether.control_plane.storage import Store
from tether.settings import Settings
from tether.wire import (
    EventBatch,
    JobSnapshot,
    LoadLocation,
    LocationLoaded,
    LocationSnapshot,
    LocationSpec,
    LogMessage,
)

EVENTS_PER_BATCH = 50


def started_run(store: Store) -> str:
    store.deploy_location(LocationSpec(name="bench", module="bench.defs"))
    [load] = store.claim_work("bench-agent", ["default"], 1, 600)
    assert isinstance(load.payload, LoadLocation)
    store.store_results([LocationLoaded(
        work_id=load.work_id, epoch=load.epoch, location="bench",
        snapshot=LocationSnapshot(location="bench", jobs=[JobSnapshot(name="logs")]),
        generation=load.payload.generation)])
    run_id = store.launch_run("logs")
    store.claim_work("bench-agent", ["default"], 1, 600)
    return run_id


async def upload_rounds(url: str, rounds: int, batches: int) -> dict[str, list[float]]:
    """Seconds per batch, per round, for each mode."""
    with tempfile.TemporaryDirectory() as data_dir:
        app, state = _build_app(Settings(data_dir=data_dir, database_url=url))
        async with app.router.lifespan_context(app):
            side = Store.from_url(url)
            run_id = started_run(side)
            token = side.create_token("agent", name="bench agent")
            side.close()
            served = state.store
            shipped = served.note_use
            seq = 0
            timings: dict[str, list[float]] = {"shipped": [], "no last-use note": []}
            transport = httpx.ASGITransport(app=app)
            headers = {"content-type": "application/msgpack",
                       "authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://cp") as http:
                for number in range(rounds * 2):
                    # ABBA order: a drift over the run (a growing table) hits both alike
                    mode = "shipped" if number % 4 in (0, 3) else "no last-use note"
                    served.note_use = (  # type: ignore[method-assign]
                        shipped if mode == "shipped" else lambda *args, **kwargs: None)
                    started = time.perf_counter()
                    for _ in range(batches):
                        events = [LogMessage(run_id=run_id, attempt=1, seq=seq + i,
                                             timestamp=time.time(), step_key="emit",
                                             level="INFO", message="row processed")
                                  for i in range(1, EVENTS_PER_BATCH + 1)]
                        seq += EVENTS_PER_BATCH
                        response = await http.post(
                            "/agent/v1/events", headers=headers,
                            content=msgspec.msgpack.encode(EventBatch(events=events)))
                        assert response.status_code == 200, response.text
                    timings[mode].append((time.perf_counter() - started) / batches)
            return timings


def authenticate_timings(url: str, calls: int) -> dict[str, float]:
    store = Store.from_url(url)
    store.migrate()
    token = store.create_token("agent", name="bench agent")
    result = {}
    try:
        for label, use in (("check only", False), ("and note_use", True)):
            started = time.perf_counter()
            for _ in range(calls):
                info = store.authenticate(token)
                if use and info is not None:
                    store.note_use(info, via="agent-api")
            result[label] = (time.perf_counter() - started) / calls
    finally:
        store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    databases = ["SQLite"] + (["PostgreSQL"] if reachable("127.0.0.1", 5432) else [])
    for database in databases:
        with fresh_database(database) as url:
            timings = asyncio.run(upload_rounds(url, args.rounds, args.batches))
            shipped = statistics.median(timings["shipped"])
            off = statistics.median(timings["no last-use note"])
            print(f"{database}: event batch upload ({EVENTS_PER_BATCH} events), median of "
                  f"{args.rounds} rounds of {args.batches}: shipped {shipped * 1e3:.3f} ms, "
                  f"without the last-use note {off * 1e3:.3f} ms, ratio {shipped / off:.3f}")
        with fresh_database(database) as url:
            for label, seconds in authenticate_timings(url, 20_000).items():
                print(f"{database}: Store.authenticate, cached token, {label}: "
                      f"{seconds * 1e6:.2f} µs")


if __name__ == "__main__":
    main()
