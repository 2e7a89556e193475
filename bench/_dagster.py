"""The Dagster side of ``dagster_side_by_side.py``: a throwaway virtualenv with Dagster 1.13,
a ``dagster dev`` deployment of ``jobs/dagster_jobs.py`` on a temporary SQLite instance, and
the probe that runs Dagster's Python API inside that virtualenv.

Dagster is not a dependency of Tether: everything of it runs as subprocesses of its own
interpreter, and this module talks to them over HTTP, /proc and the instance's SQLite files.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from tether._net import free_port

__all__ = ["JOBS", "DagsterDev", "dagster_dev", "ensure_venv", "probe"]

BENCH = Path(__file__).resolve().parent
JOBS = BENCH / "jobs"
REQUIREMENTS = ("dagster==1.13.*", "dagster-webserver==1.13.*", "dagster-graphql==1.13.*")
_CHECK = "import dagster, dagster_graphql, dagster_webserver; print(dagster.__version__)"

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
STATUSES = """
query($ids: [String!]) {
  runsOrError(filter: {runIds: $ids}) { ... on Runs { results { status } } }
}"""
BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
BACKFILL_RUNS = """
query($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}, limit: 100000) { ... on Runs { results { status } } }
}"""
LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"
# the context.log lines of ``emit``, by the text of the user's message in the stored entry
_LOG_LINES = """
SELECT count(*) FROM event_logs
WHERE dagster_event_type IS NULL AND step_key = 'emit' AND event LIKE '%"user_message": "row %'
"""
_STEP_START = """
SELECT json_extract(event, '$.timestamp') FROM event_logs
WHERE dagster_event_type = 'STEP_START' AND step_key = ?
"""


def ensure_venv(venv: Path) -> Path:
    """The python of ``venv``, with Dagster 1.13 installed from PyPI unless it is already."""
    python = venv / "bin" / "python"
    if python.exists():
        check = subprocess.run([python, "-c", _CHECK], capture_output=True, text=True)
        if check.returncode == 0 and check.stdout.startswith("1.13."):
            return python
    print(f"installing {', '.join(REQUIREMENTS)} into {venv} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
    subprocess.run([python, "-c", _CHECK], check=True, stdout=subprocess.DEVNULL)
    return python


def probe(python: Path, *args: str) -> dict[str, list[float]]:
    """Run ``jobs/dagster_probe.py`` in Dagster's virtualenv and return what it printed."""
    done = subprocess.run([python, JOBS / "dagster_probe.py", *args],
                          capture_output=True, text=True)
    if done.returncode != 0:
        # Dagster's warnings fill stderr: its end says what failed
        raise RuntimeError(f"dagster_probe.py {' '.join(args)} exited with "
                           f"{done.returncode}:\n{done.stderr[-3000:]}")
    result: dict[str, list[float]] = json.loads(done.stdout)
    return result


class DagsterDev:
    """A running ``dagster dev`` (webserver, daemon, code server) and its GraphQL API."""

    def __init__(self, url: str, home: Path, process: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.home = home
        self.process = process
        self.http = httpx.Client(base_url=url, timeout=120)

    def graphql(self, document: str, **variables: Any) -> dict[str, Any]:
        body = self.http.post("/graphql", json={"query": document,
                                                "variables": variables}).json()
        assert not body.get("errors"), body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    def launch(self, job: str) -> str:
        params = {"selector": {"repositoryLocationName": "bench",
                               "repositoryName": "__repository__", "jobName": job},
                  "runConfigData": {}}
        result = self.graphql(LAUNCH, params=params)["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return str(result["run"]["runId"])

    def backfill(self, job: str, partitions: list[str]) -> str:
        """Launch a backfill of ``partitions`` of ``job``; its id."""
        params = {"selector": {"partitionSetName": f"{job}_partition_set",
                               "repositorySelector": {"repositoryLocationName": "bench",
                                                      "repositoryName": "__repository__"}},
                  "partitionNames": partitions}
        result = self.graphql(BACKFILL, params=params)["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return str(result["backfillId"])

    def backfill_statuses(self, backfill_id: str) -> list[str]:
        """The statuses of the runs the backfill has created so far."""
        tags = [{"key": "dagster/backfill", "value": backfill_id}]
        results = self.graphql(BACKFILL_RUNS, tags=tags)["runsOrError"]["results"]
        return [str(run["status"]) for run in results]

    def status(self, run_id: str) -> str:
        return str(self.graphql(STATUS, id=run_id)["runOrError"]["status"])

    def statuses(self, run_ids: list[str]) -> list[str]:
        results = self.graphql(STATUSES, ids=run_ids)["runsOrError"]["results"]
        return [str(run["status"]) for run in results]

    def stored_log_lines(self, run_id: str) -> int:
        """How many of ``emit``'s lines the instance's event log holds for the run."""
        with self._run_db(run_id) as db:
            return 0 if db is None else int(db.execute(_LOG_LINES).fetchone()[0])

    def step_started(self, run_id: str, step: str) -> float:
        """When ``step`` started, by the run worker's clock (seconds since the epoch)."""
        with self._run_db(run_id) as db:
            assert db is not None, f"no event log for run {run_id}"
            return float(db.execute(_STEP_START, (step,)).fetchone()[0])

    @contextmanager
    def _run_db(self, run_id: str) -> Iterator[sqlite3.Connection | None]:
        # the default SQLite instance keeps each run's event log in a file of its own
        path = self.home / "history" / "runs" / f"{run_id}.db"
        if not path.exists():
            yield None
            return
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            yield db
        finally:
            db.close()

    def wait_loaded(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"dagster dev exited\n{self.output()}"
            try:
                entries = self.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return
            except (httpx.HTTPError, ValueError):
                pass  # not listening yet
            time.sleep(0.25)
        raise AssertionError(f"dagster dev not loaded in {timeout}s\n{self.output()}")

    def output(self) -> str:
        return (self.home / "dagster-dev.log").read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        """Stop the whole process tree: the webserver, the daemon, code servers, runs."""
        self.http.close()
        # dagster dev stops its children on SIGINT; whatever lingers in its process group
        # (every process of it, runs included, stays in the group) is killed
        self.process.send_signal(signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@contextmanager
def dagster_dev(python: Path, *, immediate: bool = False) -> Iterator[DagsterDev]:
    """``dagster dev`` on ``jobs/workspace.yaml`` with a fresh DAGSTER_HOME (a SQLite
    instance, Dagster's default run launcher; its default queued run coordinator unless
    ``immediate``), loaded and ready to take runs."""
    with tempfile.TemporaryDirectory(prefix="dagster-home-") as tmp:
        home = Path(tmp)
        config = "telemetry:\n  enabled: false\n"  # no internet here; and not measured
        if immediate:
            config += ("run_coordinator:\n  module: dagster._core.run_coordinator\n"
                       "  class: DefaultRunCoordinator\n")
        (home / "dagster.yaml").write_text(config)
        port = free_port()
        with (home / "dagster-dev.log").open("ab") as log:
            process = subprocess.Popen(
                [python.parent / "dagster", "dev", "-w", JOBS / "workspace.yaml",
                 "-p", str(port), "-h", "127.0.0.1"],
                cwd=home, env={**os.environ, "DAGSTER_HOME": str(home)},
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        running = DagsterDev(f"http://127.0.0.1:{port}", home, process)
        try:
            running.wait_loaded()
            yield running
        finally:
            running.stop()
