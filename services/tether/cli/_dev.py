"""``tether dev``: the whole deployment on one machine, in one terminal.

Migrates the SQLite database in the data folder, makes sure a user and an agent token exist,
starts an embedded Valkey (unless ``TETHER_REDIS_URL`` names a broker), then runs the same
processes as the ``Procfile`` under honcho, each line prefixed with its process name. Ctrl-C
stops every process, and the launcher stops the runs it started.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..settings import Settings, load_settings
from ._credentials import DevCredentials, read_credentials, write_credentials

# name → arguments of `tether`; the Procfile lists the same processes (a test compares them)
PROCESSES: dict[str, list[str]] = {
    "control-plane": ["control-plane", "serve"],
    "daemons": ["control-plane", "daemons"],
    "poller": ["agent", "poller"],
    "launcher": ["agent", "launcher"],
    "supervisor": ["agent", "supervisor"],
    "uploader": ["agent", "uploader"],
}
# with run_launcher = "rq", the runs execute in an RQ worker
RQ_WORKER = ["agent", "rq-worker"]
# only these talk to the control plane, so only they get the agent token
NEEDS_AGENT_TOKEN = {"poller", "uploader"}


def register(commands: Any) -> None:
    dev = commands.add_parser("dev", help="run the control plane, the agent and code servers")
    dev.add_argument("--workspace", "-w", help="workspace.toml naming the code locations "
                     "(default: ./workspace.toml)")
    dev.add_argument("--port", type=int, help="control plane port (default 3000)")
    dev.set_defaults(handler=_dev)


def _dev(args: argparse.Namespace) -> int:
    from ..workspace import load_workspace

    settings = load_settings(workspace=args.workspace, port=args.port)
    workspace = Path(settings.workspace or "workspace.toml").resolve()
    if not workspace.exists():
        raise ConfigError(f"no workspace file at {workspace}; pass --workspace (the example: "
                          "--workspace examples/hello/workspace.toml)")
    locations = load_workspace(workspace)
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _check_port_free(settings.host, settings.port)
    credentials = _ensure_credentials(settings)

    broker = None
    redis_url = settings.redis_url
    if not redis_url:
        from ..broker import EmbeddedBroker

        broker = EmbeddedBroker(data_dir / "valkey")
        broker.start()
        redis_url = broker.url
    try:
        manager = _manager(settings, workspace, data_dir, redis_url, credentials)
        names = ", ".join(spec.name for spec in locations)
        print(f"Tether dev: control plane on http://{settings.host}:{settings.port}, broker "
              f"{redis_url}, database {settings.resolved_database_url}, code locations: "
              f"{names}.\nIn another terminal, from {Path.cwd()}: tether run launch <job> --wait",
              flush=True)
        manager.loop()
    finally:
        # last: the workers flush to the broker while they stop
        if broker is not None:
            broker.stop()
    return int(manager.returncode or 0)


def _manager(settings: Settings, workspace: Path, data_dir: Path, redis_url: str,
             credentials: DevCredentials) -> Any:
    """A honcho manager with the Procfile's processes, configured for this deployment."""
    from honcho.manager import Manager

    env = {
        **os.environ,
        "TETHER_DATA_DIR": str(data_dir),
        "TETHER_DATABASE_URL": settings.resolved_database_url,
        "TETHER_REDIS_URL": redis_url,
        "TETHER_URL": f"http://{settings.host}:{settings.port}",
        "TETHER_HOST": settings.host,
        "TETHER_PORT": str(settings.port),
        "TETHER_WORKSPACE": str(workspace),
        "TETHER_STOP_RUNS_ON_EXIT": "true",
        "PYTHONUNBUFFERED": "1",
    }
    manager = Manager()
    processes = dict(PROCESSES)
    if settings.run_launcher == "rq":
        processes["rq-worker"] = RQ_WORKER
    for name, tether_args in processes.items():
        process_env = dict(env)
        if name in NEEDS_AGENT_TOKEN:
            process_env["TETHER_AGENT_TOKEN"] = credentials.agent_token
        # exec: honcho runs commands through a shell, and the signal must reach tether itself
        command = "exec " + shlex.join([sys.executable, "-m", "tether", *tether_args])
        manager.add_process(name, command, env=process_env)
    return manager


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        # as the server will: a port whose last connections linger in TIME_WAIT is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"{host}:{port} is in use ({exc.strerror}); stop what uses it "
                              "or pass --port") from exc


def _ensure_credentials(settings: Settings) -> DevCredentials:
    """The local deployment's tokens: reused while the database still accepts them."""
    from ..control_plane.storage import Actor, Store

    store = Store.from_url(settings.resolved_database_url)
    try:
        store.migrate()
        existing = read_credentials(settings)
        if existing is not None and all(
            store.authenticate(token) is not None
            for token in (existing.agent_token, existing.user_token)
        ):
            return existing
        actor = Actor(kind="cli", name="tether dev", via="cli")
        credentials = DevCredentials(
            agent_token=store.create_token("agent", name="tether dev agent", actor=actor),
            user_token=store.create_token("user", role="admin", name="tether dev user",
                                          actor=actor),
        )
    finally:
        store.close()
    path = write_credentials(settings, credentials)
    print(f"Created tokens for this deployment in {path}", flush=True)
    return credentials
