"""A real deployment for end-to-end tests: the control plane and the four agent workers as
separate processes, started exactly as the Procfile starts them (and, like
``honcho start -c launcher=3``, several copies of a worker when a test asks for them); the
GraphQL documents the tests send it, and the waits on what it reports."""

from __future__ import annotations

import copy
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tether.cli._dev import NEEDS_AGENT_TOKEN, PROCESSES, RQ_WORKER

from .conftest import EXAMPLE_WORKSPACE, free_port
from .processes import processes_with_env
from .waiting import eventually

T = TypeVar("T")

RUN = """
query Run($id: ID!) {
  run(id: $id) {
    id status attempt willRetry stepsSucceeded stepsFailed tags stepSelection
    error { className message stack }
    events { id seq attempt type stepKey message timestamp error { message stack } }
    logs { stream seq stepKey data }
  }
}"""
RUN_STATUS = "query($id: ID!) { run(id: $id) { status } }"
LAUNCH = """mutation($job: String!, $config: JSON, $tags: JSON) {
  launchRun(jobName: $job, runConfig: $config, tags: $tags) { id status } }"""
CANCEL = "mutation($id: ID!) { terminateRun(id: $id) { id } }"
REEXECUTE = """mutation($id: ID!) {
  reexecuteRun(id: $id, strategy: FROM_FAILURE) { id stepSelection } }"""
LOCATIONS = "{ codeLocations { name status error jobs { name } } }"
ENDED = ("SUCCESS", "FAILURE", "CANCELED")
# the control plane and the agent's workers, without the daemons
AGENT = ("control-plane", "poller", "launcher", "supervisor", "uploader")


class Deployment:
    def __init__(self, *, data_dir: Path, redis_url: str, workspace: Path = EXAMPLE_WORKSPACE,
                 database_url: str | None = None, port: int | None = None,
                 processes: tuple[str, ...] = tuple(PROCESSES),
                 copies: Mapping[str, int] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        """Starts ``processes`` (on SQLite in ``data_dir`` unless ``database_url`` names
        another database, on a free port unless ``port`` is given); ``copies`` asks for
        several copies of some, named like honcho names them (``launcher.1``,
        ``launcher.2``, ...); ``env`` adds or overrides settings of every process (e.g.
        ``TETHER_LEASE_SECONDS``); with ``TETHER_TLS_CERT_FILE`` in it, the control plane
        serves HTTPS, and the test's own client trusts ``TETHER_CA_FILE``."""
        from tether.control_plane.storage import Store

        database_url = database_url or f"sqlite:///{data_dir / 'tether.db'}"
        port = port or free_port()
        tls = (env or {}).get("TETHER_TLS_CERT_FILE")
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=(env or {})["TETHER_CA_FILE"]) if tls else True)
        self.data_dir = data_dir
        store = Store.from_url(database_url)
        store.migrate()
        self.agent_token = store.create_token("agent", name="test agent")
        self.user_token = store.create_token("user", role="admin", name="test user")
        store.close()
        # as an operator should hand it over: in a file only the agent's user reads
        self.agent_token_file = data_dir / "agent-token"
        fd = os.open(self.agent_token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(self.agent_token + "\n")
        self.env = {
            **os.environ,
            "TETHER_DATA_DIR": str(data_dir),
            "TETHER_DATABASE_URL": database_url,
            "TETHER_REDIS_URL": redis_url,
            "TETHER_URL": self.url,
            "TETHER_PORT": str(port),
            "TETHER_WORKSPACE": str(workspace),
            "TETHER_STOP_RUNS_ON_EXIT": "true",
            "TETHER_LOG_LEVEL": "DEBUG",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        for kind in processes:
            count = (copies or {}).get(kind, 1)
            for number in range(1, count + 1):
                self.start(f"{kind}.{number}" if count > 1 else kind)
        self.http = httpx.Client(base_url=self.url, verify=self.verify,
                                 headers={"authorization": f"Bearer {self.user_token}"})
        self._views: list[Deployment] = []

    def in_deployment(self, name: str) -> Deployment:
        """The same processes, with the test's API calls and CLI commands working in
        deployment ``name`` of the control plane (``X-Tether-Deployment``,
        ``TETHER_DEPLOYMENT``). Stopping this one stops the processes; the view needs no
        stop of its own."""
        view = copy.copy(self)
        view.env = {**self.env, "TETHER_DEPLOYMENT": name}
        view.http = httpx.Client(base_url=self.url, verify=self.verify,
                                 headers={"authorization": f"Bearer {self.user_token}",
                                          "x-tether-deployment": name})
        self._views.append(view)
        return view

    def start(self, name: str) -> None:
        """Start process ``name``: a key of ``PROCESSES`` or ``rq-worker``, or one with a copy
        number (``uploader.2``)."""
        kind = name.partition(".")[0]
        env = dict(self.env)
        if kind in NEEDS_AGENT_TOKEN:
            env["TETHER_AGENT_TOKEN_FILE"] = str(self.agent_token_file)
        log = self.data_dir / f"{name}.log"
        self.logs[name] = log
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "tether", *{**PROCESSES, "rq-worker": RQ_WORKER}[kind]],
            env=env,
            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 30.0) -> None:
        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1,
                                 verify=self.verify).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait_for(healthy, timeout=timeout, what="the control plane to be healthy")

    def graphql(self, document: str, **variables: Any) -> dict[str, Any]:
        response = self.http.post("/graphql", json={"query": document, "variables": variables})
        body: dict[str, Any] = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    def wait_for(self, check: Callable[[], T], timeout: float = 60.0,
                 what: str = "condition") -> T:
        """``eventually(check)``, failing early when one of the processes died, and with
        their logs when the deadline passes."""
        return eventually(check, timeout=timeout, what=what, meanwhile=self.assert_alive,
                          detail=self.output)

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """``tether *args`` through the CLI, as this deployment's user (its admin token)."""
        return subprocess.run([sys.executable, "-m", "tether", *args], capture_output=True,
                              text=True, timeout=timeout,
                              env={**self.env, "TETHER_TOKEN": self.user_token})

    def assert_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        assert not dead, f"processes exited: {dead}\n{self.output()}"

    def output(self) -> str:
        return "\n".join(f"--- {name} ---\n{path.read_text(errors='replace')[-6000:]}"
                         for name, path in self.logs.items())

    def stop(self) -> dict[str, int]:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                codes[name] = process.wait()
        for view in self._views:
            view.http.close()
        self.http.close()
        return codes


@contextmanager
def deployed(*, data_dir: Path, redis_url: str, workspace: Path = EXAMPLE_WORKSPACE,
             database_url: str | None = None, port: int | None = None,
             processes: tuple[str, ...] = tuple(PROCESSES),
             copies: Mapping[str, int] | None = None,
             env: Mapping[str, str] | None = None) -> Iterator[Deployment]:
    """A healthy ``Deployment`` for the block; afterwards every process must have stopped
    cleanly and left no process behind (neither run workers nor code servers)."""
    deployment = Deployment(data_dir=data_dir, redis_url=redis_url, workspace=workspace,
                            database_url=database_url, port=port, processes=processes,
                            copies=copies, env=env)
    try:
        deployment.wait_healthy()
        yield deployment
    finally:
        codes = deployment.stop()
    assert all(code == 0 for code in codes.values()), \
        f"unclean stop {codes}\n{deployment.output()}"
    assert processes_with_env(str(data_dir)) == [], "processes left behind"


def one_location(folder: Path, name: str, source: str, *, python_file: str = "defs.py",
                 working_directory: str | None = None,
                 env: Mapping[str, str] | None = None) -> Path:
    """A workspace.toml in ``folder`` naming one code location, ``name``, whose code
    ``source`` is written to ``python_file`` (in ``folder``, or in the folder
    ``working_directory`` names relative to it); ``env`` is the location's environment."""
    code = folder / working_directory if working_directory else folder
    code.mkdir(parents=True, exist_ok=True)
    (code / python_file).write_text(source)
    lines = ["[[locations]]", f'name = "{name}"', f'python_file = "{python_file}"']
    if working_directory:
        lines.append(f'working_directory = "{working_directory}"')
    if env:
        lines.append("env = { " + ", ".join(f'{k} = "{v}"' for k, v in env.items()) + " }")
    workspace = folder / "workspace.toml"
    workspace.write_text("\n".join(lines) + "\n")
    return workspace


def databases(request: pytest.FixtureRequest, kind: str, data_dir: Path) -> tuple[str, str]:
    """The database and broker URLs of ``kind``: ``sqlite+valkey`` (the embedded default) or
    ``postgres+redis`` (the machine's, each test with its own schema and emptied database)."""
    if kind == "sqlite+valkey":
        return f"sqlite:///{data_dir / 'tether.db'}", request.getfixturevalue("broker_url")
    assert kind == "postgres+redis", kind
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("system_redis_url")


def wait_loaded(deployment: Deployment, count: int = 1) -> list[dict[str, Any]]:
    """The ``count`` code locations once all are LOADED; fails at once when one is in
    ERROR, with its error."""
    def loaded() -> list[dict[str, Any]] | None:
        locations: list[dict[str, Any]] = deployment.graphql(LOCATIONS)["codeLocations"]
        failed = [loc for loc in locations if loc["status"] == "ERROR"]
        assert not failed, failed
        settled = len(locations) == count and all(
            loc["status"] == "LOADED" for loc in locations)
        return locations if settled else None

    return deployment.wait_for(loaded, what=f"{count} code location(s) LOADED")


def run_to_end(deployment: Deployment, job: str) -> dict[str, Any]:
    """Launch ``job`` and return its run once ended, with ``seen_statuses``: the statuses
    it was seen in on the way."""
    run_id = deployment.graphql(LAUNCH, job=job)["launchRun"]["id"]
    seen: list[str] = []

    def finished() -> dict[str, Any] | None:
        run: dict[str, Any] = deployment.graphql(RUN, id=run_id)["run"]
        if not seen or seen[-1] != run["status"]:
            seen.append(run["status"])
        return run if run["status"] in ENDED else None

    deployment.wait_for(finished, what=f"run of {job} to finish")
    # a run worker's last output is sent after its end event, from another stream (see
    # storage/_fence.py), and nothing marks the last chunk: this grace lets it arrive
    time.sleep(0.5)
    return {**deployment.graphql(RUN, id=run_id)["run"], "seen_statuses": seen}


def ended(deployment: Deployment, run_id: str) -> dict[str, Any]:
    """The run once its worker's outcome and its stdout are stored."""
    def stored() -> dict[str, Any] | None:
        run: dict[str, Any] = deployment.graphql(RUN, id=run_id)["run"]
        types = {e["type"] for e in worker_events(run)}
        # the run's row and its events are read one after the other: the status too must
        # have caught up with the end event
        ended = run["status"] in ENDED
        return run if ended and run["logs"] and types & {"RUN_SUCCESS", "RUN_FAILURE"} else None

    return deployment.wait_for(stored, what=f"run {run_id} to end")


def outcomes(run: dict[str, Any]) -> dict[str, str]:
    """Each step's outcome in ``run``: its last STEP_SUCCESS, STEP_FAILURE or STEP_SKIPPED."""
    return {e["stepKey"]: e["type"] for e in worker_events(run)
            if e["type"] in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED")}


def worker_events(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The events the run worker wrote (numbered), not the control plane's."""
    return [e for e in run["events"] if e["seq"] is not None]
