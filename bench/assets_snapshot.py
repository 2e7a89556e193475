"""Snapshotting and deploying a code location of 10,000 assets.

Generates a definitions file that builds N assets in a loop, with two-part keys
(``layer_<k>/a<i>``), in 10 groups, each depending on up to three earlier ones (two by value
through ``ins=``, one through ``deps=``), and an asset job over all of them selected with
``AssetSelection``.
Measures, on this machine, for N = 10,000 and for the baseline N = 100 in the same run:

- load + snapshot in process: importing the file (its bytecode cached, as on every load
  after the first), building ``Definitions`` and ``snapshot_definitions``, and encoding the
  snapshot as the code server sends it;
- the ``deployLocation`` mutation → LOADED, polled over GraphQL, against a deployment
  (control plane and the four agent workers as processes, SQLite, embedded Valkey): the
  code server's start, load, snapshot, the agent's upload and the control plane's store.

    .venv/bin/python bench/assets_snapshot.py [--samples 3] [--assets 10000] [--baseline 100]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec
from _harness import Deployment, deployment
from location_deploy import DEPLOY, LOCATION

from tether.sdk import Definitions, snapshot_definitions

GROUPS = 10


def definitions(assets: int) -> str:
    # built in a loop, as locations of thousands of assets are (from a manifest or a table
    # list): a file of 10,000 hand-written functions spends ~2 s compiling before any SDK code
    return f"""
from tether import AssetKey, AssetSelection, Definitions, asset, define_asset_job

def key(i):
    return AssetKey(["layer_" + str(i % 7), "a" + str(i)])

def compute_0() -> int:
    return 1

def compute_1(x: int) -> int:
    return x + 1

def compute_2(x: int, y: int) -> int:
    return x + y

COMPUTE = [compute_0, compute_1, compute_2]

def make(i):
    values = sorted({{j for j in (i - 1, i // 2) if 0 <= j < i}})
    after = [key(j) for j in (i // 3,) if 0 <= j < i and j not in values]
    return asset(key=key(i), group_name="g" + str(i % {GROUPS}),
                 ins={{name: key(j) for name, j in zip(("x", "y"), values)}}, deps=after,
                 owners=["team:data"], kinds={{"python"}})(COMPUTE[len(values)])

defs = Definitions(assets=[make(i) for i in range({assets})],
                   jobs=[define_asset_job("all", AssetSelection.all())])
"""


def key(i: int) -> str:
    return f"layer_{i % 7}/a{i}"


def deploy_by_mutation(running: Deployment, name: str, defs_file: Path) -> float:
    """Seconds from the deployLocation mutation to the location LOADED, polled every 20 ms
    (each poll reads the stored snapshot: polling faster would measure the polling)."""
    start = time.perf_counter()
    generation = running.graphql(DEPLOY, location={"name": name, "pythonFile": str(defs_file)})[
        "deployLocation"]["generation"]
    while True:
        location = running.graphql(LOCATION, name=name)["codeLocation"]
        if location["generation"] == generation and location["status"] != "LOADING":
            assert location["status"] == "LOADED", location
            return time.perf_counter() - start
        time.sleep(0.02)


def load_and_snapshot(path: Path, name: str) -> tuple[float, int]:
    """Seconds to import the file, snapshot its Definitions and encode the snapshot."""
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    defs = module.defs
    assert isinstance(defs, Definitions)
    encoded = msgspec.msgpack.encode(snapshot_definitions(defs, name))
    return time.perf_counter() - start, len(encoded)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=100)
    args = parser.parse_args()
    results: dict[int, dict[str, list[float]]] = {}
    sizes: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = {}
        for count in (args.baseline, args.assets):
            files[count] = root / f"assets_{count}.py"
            files[count].write_text(definitions(count))
            # the first import compiles and caches the bytecode, as a code server's first load
            load_and_snapshot(files[count], f"assets_{count}")
            samples = [load_and_snapshot(files[count], f"assets_{count}")
                       for _ in range(args.samples)]
            sizes[count] = samples[0][1]
            results[count] = {"snapshot": [t for t, _ in samples]}
        workspace = root / "workspace.toml"
        workspace.write_text(f'[[locations]]\nname = "first"\n'
                             f'python_file = "{files[args.baseline]}"\n')
        with deployment(workspace=workspace) as running:
            for count in (args.baseline, args.assets):
                results[count]["deploy"] = [
                    deploy_by_mutation(running, f"n{count}-{i}", files[count])
                    for i in range(args.samples)]
    print(f"medians of {args.samples} samples; baseline: {args.baseline} assets")
    base = {what: statistics.median(s) for what, s in results[args.baseline].items()}
    for count in (args.baseline, args.assets):
        for what, label in (("snapshot", "load + snapshot + encode"),
                            ("deploy", "deployLocation -> LOADED")):
            samples = results[count][what]
            median = statistics.median(samples)
            print(f"{count:>6} assets  {label:<26} {median * 1000:8.1f} ms  "
                  f"{median / base[what]:6.1f}x baseline  (min {min(samples) * 1000:.0f}, "
                  f"max {max(samples) * 1000:.0f} ms; snapshot {sizes[count] / 1e6:.2f} MB)")


if __name__ == "__main__":
    sys.exit(main())
