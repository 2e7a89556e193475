"""The measures of ``dagster_side_by_side.py`` that must run inside Dagster's own virtualenv,
because they call Dagster's Python API. Prints one JSON object on stdout.

    <dagster venv>/bin/python bench/jobs/dagster_probe.py per-op --samples 5
    <dagster venv>/bin/python bench/jobs/dagster_probe.py code-server --file F --samples 5
"""

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from _procfs import rss_bytes, tree_pids  # noqa: E402


def per_op(samples: int) -> dict[str, list[float]]:
    """Seconds of ``execute_in_process`` of the 1-op and the 50-op jobs, after one warm-up
    each (the first execution builds the job's plan and imports lazily)."""
    import dagster_jobs

    timings: dict[str, list[float]] = {}
    for job in (dagster_jobs.one_op, dagster_jobs.fan_out):
        assert job.execute_in_process().success
        timings[job.name] = []
        for _ in range(samples):
            start = time.perf_counter()
            result = job.execute_in_process()
            timings[job.name].append(time.perf_counter() - start)
            assert result.success
    return timings


def code_server(python_file: str, samples: int) -> dict[str, list[float]]:
    """Seconds from spawning ``dagster api grpc`` until it has answered the repository
    snapshot (every job's snapshot included), and the server's RSS then."""
    from dagster._grpc.client import DagsterGrpcClient

    seconds, rss = [], []
    for _ in range(samples):
        port = _free_port()
        start = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "dagster", "api", "grpc", "-f", python_file,
             "-p", str(port), "--location-name", "hello"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client = DagsterGrpcClient(port=port, host="127.0.0.1")
            _wait_for_ping(client, server)
            _fetch_snapshot(client, port)
            seconds.append(time.perf_counter() - start)
            rss.append(rss_bytes(tree_pids(server.pid)) / 2**20)
        finally:
            server.terminate()
            server.wait(30)
    return {"seconds": seconds, "rss_mb": rss}


def _wait_for_ping(client: object, server: subprocess.Popen[bytes]) -> None:
    from dagster._core.errors import DagsterUserCodeUnreachableError

    while True:
        try:
            client.ping("")  # type: ignore[attr-defined]
            return
        except DagsterUserCodeUnreachableError:
            if server.poll() is not None:
                raise RuntimeError(f"dagster api grpc exited with {server.returncode}") from None
            time.sleep(0.01)


def _fetch_snapshot(client: object, port: int) -> None:
    """What the webserver asks a new code server for: its repositories, then each one's data
    with the job snapshots inline."""
    from dagster._api.list_repositories import sync_list_repositories_grpc
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin, RemoteRepositoryOrigin
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import deserialize_value

    listing = sync_list_repositories_grpc(client)  # type: ignore[arg-type]
    location = GrpcServerCodeLocationOrigin(host="127.0.0.1", port=port, location_name="hello")
    for symbol in listing.repository_symbols:
        origin = RemoteRepositoryOrigin(location, symbol.repository_name)
        data = client.external_repository(origin, defer_snapshots=False)  # type: ignore[attr-defined]
        snap = deserialize_value(data, RepositorySnap)
        assert snap.has_job_data(), "the snapshot came without its jobs"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("per-op").add_argument("--samples", type=int, default=5)
    serve = commands.add_parser("code-server")
    serve.add_argument("--file", required=True)
    serve.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    if args.command == "per-op":
        result = per_op(args.samples)
    else:
        result = code_server(args.file, args.samples)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
