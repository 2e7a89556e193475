"""Many deployments on one control plane: what a claim and the runs list cost in one
deployment of a database holding 100 deployments of 10 locations each, next to the same in
a database holding that one deployment alone, measured in the same run (SQLite, and
PostgreSQL when it answers). Every statement of a store is scoped to its deployment
(storage/_scope.py); this shows what the other deployments' rows cost it.

On a shared, loaded machine one wall-clock timing swings by 10x. So the configurations'
samples are interleaved one operation at a time (in a shuffled order each round, so neither
always runs first), each sample records the CPU time of this process (the control plane's
store code and, on SQLite, the database engine itself) and the wall time, and what is
reported is the median over many rounds and the median of the per-round ratios with its
interquartile range: a round measures all configurations within a few milliseconds, so the
load hits them alike and cancels out of the ratio. The load average is printed before and
after.

    .venv/bin/python bench/deployments.py [--deployments 100] [--locations 10] [--runs 50]
        [--rounds 400]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable

from _harness import fresh_database
from tests.conftest import reachable

from tether.control_plane.storage import Store
from tether.wire import JobSnapshot, LoadLocation, LocationLoaded, LocationSnapshot, LocationSpec

# the configurations: the single deployment, and prod and the last of the many
CONFIGS = ("1 deployment", "many: prod", "many: last")


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


def _claim(store: Store) -> Callable[[], object]:
    store.launch_run("loc0_job")  # not timed: the run the claim then takes

    def claim() -> object:
        [claimed] = store.claim_work("bench-agent", ["default"], 10, 600)
        return claimed
    return claim


def _runs_list(store: Store) -> Callable[[], object]:
    return lambda: store.list_runs(50)


OPERATIONS: dict[str, Callable[[Store], Callable[[], object]]] = {
    "claim": _claim, "runs list": _runs_list}


def _timed(operation: Callable[[], object]) -> tuple[float, float]:
    """The CPU seconds of this process, and the wall seconds, of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    operation()
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(stores: dict[str, Store], rounds: int, seed: int = 0
            ) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Per operation, per configuration: the CPU and wall seconds of each round."""
    shuffler = random.Random(seed)
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        op: {config: {"cpu": [], "wall": []} for config in stores} for op in OPERATIONS}
    for _ in range(rounds):
        for op, prepare in OPERATIONS.items():
            order = list(stores)
            shuffler.shuffle(order)
            for config in order:
                cpu, wall = _timed(prepare(stores[config]))
                samples[op][config]["cpu"].append(cpu)
                samples[op][config]["wall"].append(wall)
    return samples


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    low, median, high = statistics.quantiles(values, n=4)
    return low, median, high


def report(name: str, args: argparse.Namespace,
           samples: dict[str, dict[str, dict[str, list[float]]]]) -> None:
    print(f"\n{name}: {args.deployments} deployments x {args.locations} locations x "
          f"{args.runs} runs, against 1 deployment; {args.rounds} interleaved rounds")
    for op, by_config in samples.items():
        base = by_config[CONFIGS[0]]
        for kind in ("cpu", "wall"):
            line = (f"  {op:<9} {kind:<4} {CONFIGS[0]}: "
                    f"{statistics.median(base[kind]) * 1e3:7.3f} ms")
            for config in CONFIGS[1:]:
                values = by_config[config][kind]
                ratios = [value / max(one, 1e-9) for value, one in zip(values, base[kind],
                                                                      strict=True)]
                low, mid, high = _quartiles(ratios)
                line += (f" | {config}: {statistics.median(values) * 1e3:7.3f} ms, ratio "
                         f"{mid:.2f}x (IQR {low:.2f}-{high:.2f})")
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=100)
    parser.add_argument("--locations", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--database", choices=["SQLite", "PostgreSQL"], action="append",
                        help="only this database (repeatable; default: both, PostgreSQL "
                             "when it answers)")
    args = parser.parse_args()
    databases = args.database or (
        ["SQLite"] + (["PostgreSQL"] if reachable("127.0.0.1", 5432) else []))
    for name in databases:
        with fresh_database(name) as one_url, fresh_database(name) as many_url:
            one, many = Store.from_url(one_url), Store.from_url(many_url)
            one.migrate()
            many.migrate()
            populate(one, args.locations, args.runs)
            scoped = [many] + [many.scoped(f"d{index:03}")
                               for index in range(1, args.deployments)]
            for store in scoped[1:]:
                many.create_deployment(store.deployment)
            for store in scoped:
                populate(store, args.locations, args.runs)
            stores = dict(zip(CONFIGS, (one, many, scoped[-1]), strict=True))
            measure(stores, 10)  # warm the caches and statement compilations: not reported
            before = os.getloadavg()
            samples = measure(stores, args.rounds)
            after = os.getloadavg()
            report(name, args, samples)
            print(f"  load average (1, 5, 15 min): before {before[0]:.1f} {before[1]:.1f} "
                  f"{before[2]:.1f}, after {after[0]:.1f} {after[1]:.1f} {after[2]:.1f}; "
                  f"{os.cpu_count()} CPUs")
            one.close()
            many.close()


if __name__ == "__main__":
    main()
