"""Launch → SUCCESS of a 1-op job with the Docker launcher, next to the process launcher and
to a bare ``docker run --rm IMAGE python3 -c pass``, in one run.

Starts the test Docker Engine (``dockerd --bridge=none --iptables=false``, as the tests do)
and builds the test image if it is not there (timed), then runs the job ``hello`` of
``tests/docker_location/defs.py`` N times one after another on a whole deployment (control
plane and the four agent workers, SQLite, embedded Valkey): once with the process launcher
(the file from this checkout) and once with ``TETHER_AGENT_KIND=docker`` (the same file in
the image, each run a container on the host network).

    .venv/bin/python bench/docker_launch.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _harness import Deployment, deployment
from tests.docker_engine import DOCKER_HOST, LOCATION_DIR, start_engine, stop_engine, tether_image

LAUNCH = "mutation { launchRun(jobName: \"hello\") { id } }"
STATUS = "query($id: ID!) { run(id: $id) { status } }"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    import docker

    engine = start_engine()
    client = docker.DockerClient(base_url=DOCKER_HOST)
    try:
        started = time.perf_counter()
        image = tether_image(client)
        build = time.perf_counter() - started

        docker_run = [time_command(["docker", "-H", DOCKER_HOST, "run", "--rm",
                                    "--network", "host", image, "python3", "-c", "pass"])
                      for _ in range(args.runs)]
        with workspace(image=None) as path:
            process = launch_to_success(path, {}, args.runs)
        with workspace(image=image) as path:
            in_docker = launch_to_success(path, {"TETHER_AGENT_KIND": "docker",
                                                 "TETHER_DOCKER_HOST": DOCKER_HOST},
                                          args.runs)
    finally:
        client.close()
        if engine is not None:
            stop_engine(engine)

    base = statistics.median(docker_run)
    print(f"test image ready in {build:.1f} s")
    for name, samples in (("docker run --rm IMAGE python3 -c pass", docker_run),
                          ("launch -> SUCCESS, process launcher", process),
                          ("launch -> SUCCESS, Docker launcher", in_docker)):
        median = statistics.median(samples)
        print(f"{name:40s} median {median * 1000:7.1f} ms ({median / base:.2f}x docker run); "
              f"min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f} ms")


def time_command(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


@contextmanager
def workspace(*, image: str | None) -> Iterator[Path]:
    """A workspace.toml with the location ``hello`` of the Docker tests: from this checkout,
    or from ``image``."""
    if image:
        source = f'python_file = "/app/defs.py"\nimage = "{image}"\n'
    else:
        source = f'python_file = "{LOCATION_DIR / "defs.py"}"\npython = "{sys.executable}"\n'
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workspace.toml"
        path.write_text(f'[[locations]]\nname = "hello"\n{source}')
        yield path


def launch_to_success(path: Path, env: dict[str, str], runs: int) -> list[float]:
    with deployment(workspace=path, env=env) as running:
        # one run first: the first launch pays for what later ones share (page cache, images)
        run_once(running)
        return [run_once(running) for _ in range(runs)]


def run_once(deployment: Deployment) -> float:
    start = time.perf_counter()
    run_id = deployment.graphql(LAUNCH)["launchRun"]["id"]
    while (status := deployment.graphql(STATUS, id=run_id)["run"]["status"]) != "SUCCESS":
        if status in ("FAILURE", "CANCELED"):
            raise SystemExit(f"run {run_id} ended {status}\n{deployment.output()}")
        time.sleep(0.005)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
