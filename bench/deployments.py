"""Many deployments on one control plane: what a claim and the runs list cost in one
deployment of a database holding 100 deployments of 10 locations each, next to the same in
a database holding that one deployment alone, measured in the same run (SQLite, and
PostgreSQL when it answers). Every statement of a store is scoped to its deployment
(storage/_scope.py); this shows what the other deployments' rows cost it.

    .venv/bin/python bench/deployments.py [--deployments 100] [--locations 10] [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

from _harness import fresh_database
from tests.conftest import reachable

from tether.control_plane.storage import Store
from tether.wire import JobSnapshot, LoadLocation, LocationLoaded, LocationSnapshot, LocationSpec


def populate(store: Store, locations: int, runs: int) -> None:
    """``locations`` loaded locations of one job each, and ``runs`` runs claimed by an agent."""
    for index in range(locations):
        store.deploy_location(LocationSpec(name=f"loc{index}", module=f"loc{index}.defs"))
    for item in store.claim_work("bench-agent", ["default"], locations, 600):
        assert isinstance(item.payload, LoadLocation)
        name = item.payload.location.name
        store.store_results([LocationLoaded(
            work_id=item.work_id, epoch=item.epoch, location=name,
            snapshot=LocationSnapshot(location=name, jobs=[JobSnapshot(name=f"{name}_job")]),
            generation=item.payload.generation)])
    for index in range(runs):
        store.launch_run(f"loc{index % locations}_job")
    store.claim_work("bench-agent", ["default"], runs, 600)


def measure(store: Store, rounds: int) -> dict[str, float]:
    """Median wall seconds of a claim (one launched run waiting) and of the runs list."""
    claims, lists = [], []
    for _ in range(rounds):
        store.launch_run("loc0_job")
        started = time.perf_counter()
        [_] = store.claim_work("bench-agent", ["default"], 10, 600)
        claims.append(time.perf_counter() - started)
        started = time.perf_counter()
        store.list_runs(50)
        lists.append(time.perf_counter() - started)
    return {"claim": statistics.median(claims), "runs list": statistics.median(lists)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=100)
    parser.add_argument("--locations", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    databases = ["SQLite"] + (["PostgreSQL"] if reachable("127.0.0.1", 5432) else [])
    for name in databases:
        with fresh_database(name) as one_url, fresh_database(name) as many_url:
            one, many = Store.from_url(one_url), Store.from_url(many_url)
            one.migrate()
            many.migrate()
            populate(one, args.locations, args.runs)
            stores = [many] + [many.scoped(f"d{index:03}")
                               for index in range(1, args.deployments)]
            for scoped in stores[1:]:
                many.create_deployment(scoped.deployment)
            for scoped in stores:
                populate(scoped, args.locations, args.runs)
            # the last deployment created, and prod, against the one-deployment database;
            # interleaved round by round so that the machine's noise hits all alike
            results: dict[str, list[dict[str, float]]] = {"one": [], "many: prod": [],
                                                          "many: last": []}
            for _ in range(3):
                results["one"].append(measure(one, args.rounds))
                results["many: prod"].append(measure(many, args.rounds))
                results["many: last"].append(measure(stores[-1], args.rounds))
            print(f"\n{name}: {args.deployments} deployments x {args.locations} locations x "
                  f"{args.runs} runs, against 1 deployment")
            for what in ("claim", "runs list"):
                base = statistics.median(r[what] for r in results["one"])
                print(f"  {what:<10} 1 deployment: {base * 1e3:7.2f} ms", end="")
                for label in ("many: prod", "many: last"):
                    value = statistics.median(r[what] for r in results[label])
                    print(f" | {label}: {value * 1e3:7.2f} ms ({value / base:.2f}x)", end="")
                print()
            one.close()
            many.close()


if __name__ == "__main__":
    main()
