"""Deploying a code location of 500 assets, and a code server's cold start.

Generates a definitions file with 500 assets (each depending on up to two earlier ones) and
one asset job over all of them, then measures, on this machine:

- code server cold start → first answered GetSnapshot: `tether code-server serve` started
  as a process, timed until the client has decoded the snapshot (the 500 assets);
- `tether location deploy --wait` → LOADED: the CLI as CI runs it, against a deployment
  (control plane and the four agent workers as processes, SQLite, embedded Valkey), each
  sample a new location; and the `deployLocation` mutation → LOADED polled over GraphQL
  (the same without the CLI's own interpreter start);
- `tether location redeploy --wait` of a loaded location (blue/green replacement).

Baselines in the same run: `python -c pass`, and `python -c "import tether.codeserver._server"`
(what a code server imports before it loads user code).

    .venv/bin/python bench/location_deploy.py [--samples 5] [--assets 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import Deployment, deployment

from tether.codeserver import CodeServerClient, code_server_command
from tether.wire import LocationSpec

DEPLOY = """mutation($location: LocationInput!) {
  deployLocation(location: $location) { generation }
}"""
LOCATION = "query($name: String!) { codeLocation(name: $name) { status generation } }"


def definitions(assets: int) -> str:
    lines = ["from tether import Definitions, asset, define_asset_job", ""]
    for i in range(assets):
        deps = sorted({j for j in (i - 1, i // 2) if 0 <= j < i})
        params = ", ".join(f"a{j}: int" for j in deps)
        body = " + ".join(f"a{j}" for j in deps) or "1"
        lines += ["@asset", f"def a{i}({params}) -> int:", f"    return {body}", ""]
    names = ", ".join(f"a{i}" for i in range(assets))
    lines.append(f"defs = Definitions(assets=[{names}], jobs=[define_asset_job('all')])")
    return "\n".join(lines) + "\n"


def time_command(argv: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def cold_start(spec: LocationSpec, port: int) -> tuple[float, int]:
    """Seconds from spawning a code server to its decoded snapshot, and the asset count."""
    start = time.perf_counter()
    process = subprocess.Popen(code_server_command(spec, port), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)

    async def snapshot() -> int:
        async with CodeServerClient(f"127.0.0.1:{port}") as client:
            await client.wait_until_ready(timeout=60)
            return len((await client.get_snapshot(timeout=60)).assets)

    try:
        assets = asyncio.run(snapshot())
        return time.perf_counter() - start, assets
    finally:
        process.terminate()
        process.wait()


def cli_env(running: Deployment) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    return {**env, "TETHER_URL": running.url, "TETHER_TOKEN": running.user_token}


def deploy_by_mutation(running: Deployment, name: str, defs_file: Path) -> float:
    start = time.perf_counter()
    generation = running.graphql(DEPLOY, location={"name": name, "pythonFile": str(defs_file)})[
        "deployLocation"]["generation"]
    while True:
        location = running.graphql(LOCATION, name=name)["codeLocation"]
        if location["generation"] == generation and location["status"] != "LOADING":
            assert location["status"] == "LOADED", location
            return time.perf_counter() - start
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--assets", type=int, default=500)
    args = parser.parse_args()
    from tests.conftest import free_port

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        defs_file = root / "many_assets.py"
        defs_file.write_text(definitions(args.assets))
        python_start = time_command([sys.executable, "-c", "pass"], 10)
        server_imports = time_command(
            [sys.executable, "-c", "import tether.codeserver._server"], 10)
        spec = LocationSpec(name="many", python_file=str(defs_file))
        cold = [cold_start(spec, free_port()) for _ in range(args.samples)]
        assert all(assets == args.assets for _, assets in cold)

        workspace = root / "workspace.toml"
        workspace.write_text(f'[[locations]]\nname = "first"\npython_file = "{defs_file}"\n')
        with deployment(workspace=workspace) as running:
            env = cli_env(running)
            cli = []
            for i in range(args.samples):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "tether", "location", "deploy",
                                f"cli-{i}", "--python-file", str(defs_file), "--wait"],
                               check=True, env=env, stdout=subprocess.DEVNULL)
                cli.append(time.perf_counter() - start)
            mutation = [deploy_by_mutation(running, f"api-{i}", defs_file)
                        for i in range(args.samples)]
            redeploy = []
            for _ in range(args.samples):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "tether", "location", "redeploy",
                                "first", "--wait"], check=True, env=env,
                               stdout=subprocess.DEVNULL)
                redeploy.append(time.perf_counter() - start)

    print(f"{args.assets} assets; medians of {args.samples} samples")
    report("python -c pass (baseline)", [python_start], python_start)
    report("import tether.codeserver._server", [server_imports], python_start)
    report("code server cold start -> GetSnapshot", [t for t, _ in cold], python_start)
    report("deployLocation mutation -> LOADED", mutation, python_start)
    report("tether location deploy --wait", cli, python_start)
    report("tether location redeploy --wait", redeploy, python_start)


def report(name: str, samples: list[float], baseline: float) -> None:
    median = statistics.median(samples)
    spread = (f"; min {min(samples) * 1000:.0f}, max {max(samples) * 1000:.0f} ms"
              if len(samples) > 1 else "")
    print(f"{name:<40} {median * 1000:8.1f} ms  {median / baseline:5.1f}x baseline{spread}")


if __name__ == "__main__":
    main()
