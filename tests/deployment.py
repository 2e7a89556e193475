"""A real deployment for end-to-end tests: the control plane and the four agent workers as
separate processes, started exactly as the Procfile starts them (and, like
``honcho start -c launcher=3``, several copies of a worker when a test asks for them)."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tether.cli._dev import NEEDS_AGENT_TOKEN, PROCESSES, RQ_WORKER

from .processes import processes_with_env


class Deployment:
    def __init__(self, *, database_url: str, redis_url: str, workspace: Path, data_dir: Path,
                 port: int, processes: tuple[str, ...] = tuple(PROCESSES),
                 copies: Mapping[str, int] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        """Starts ``processes``; ``copies`` asks for several copies of some, named like
        honcho names them (``launcher.1``, ``launcher.2``, ...); ``env`` adds or overrides
        settings of every process (e.g. ``TETHER_LEASE_SECONDS``); with
        ``TETHER_TLS_CERT_FILE`` in it, the control plane serves HTTPS, and the test's own
        client trusts ``TETHER_CA_FILE``."""
        from tether.control_plane.storage import Store

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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1,
                             verify=self.verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            self.assert_alive()
            time.sleep(0.1)
        raise AssertionError(f"control plane not healthy in {timeout}s\n{self.output()}")

    def graphql(self, document: str, **variables: Any) -> dict[str, Any]:
        response = self.http.post("/graphql", json={"query": document, "variables": variables})
        body: dict[str, Any] = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    def wait_for(self, check: Any, timeout: float = 60.0, what: str = "condition") -> Any:
        """``check()`` once it returns something truthy (assert_eventually, not sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            self.assert_alive()
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}\n{self.output()}")

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
        self.http.close()
        return codes


@contextmanager
def deployed(*, database_url: str, redis_url: str, workspace: Path, data_dir: Path, port: int,
             copies: Mapping[str, int] | None = None,
             env: Mapping[str, str] | None = None) -> Iterator[Deployment]:
    """A healthy deployment for the block; afterwards every process must have stopped cleanly
    and left no process behind (neither run workers nor code servers)."""
    deployment = Deployment(database_url=database_url, redis_url=redis_url,
                            workspace=workspace, data_dir=data_dir, port=port, copies=copies,
                            env=env)
    try:
        deployment.wait_healthy()
        yield deployment
    finally:
        codes = deployment.stop()
    assert all(code == 0 for code in codes.values()), \
        f"unclean stop {codes}\n{deployment.output()}"
    assert processes_with_env(str(data_dir)) == [], "processes left behind"
