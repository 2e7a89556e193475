"""``tether dev``: the whole deployment on one machine, in one terminal.

Migrates the SQLite database in the data folder, makes sure a user and an agent token exist,
starts an embedded Valkey (unless ``TETHER_REDIS_URL`` names a broker), then runs the same
processes as the ``Procfile`` under honcho, each line prefixed with its process name. Ctrl-C
stops every process, and the launcher stops the runs it started. While it runs, the URLs of
its control plane and broker are recorded next to the tokens, for the CLI in a second
terminal.
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
from ._credentials import (
    DevCredentials,
    agent_token_path,
    credentials_path,
    read_credentials,
    write_credentials,
)
from ._dev_record import DevDeployment, remove_dev_record, write_dev_record

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
# only these talk to the control plane, so only they get the agent token (its file's path)
NEEDS_AGENT_TOKEN = {"poller", "uploader"}
# the control plane's sign-in page says where the user token is
NEEDS_CREDENTIALS_FILE = {"control-plane"}


def register(commands: Any) -> None:
    dev = commands.add_parser("dev", help="run the control plane, the agent and code servers")
    dev.add_argument("--workspace", "-w", help="workspace.toml naming the code locations "
                     "(default: ./workspace.toml)")
    dev.add_argument("--port", type=int, help="control plane port (default 3000)")
    dev.set_defaults(handler=_dev)


def _dev(args: argparse.Namespace) -> int:
    from .._hardening import forbid_dumping, make_private_dir
    from ..workspace import load_workspace

    # it holds the tokens in memory: out of reach of the code it runs under the same user
    forbid_dumping()
    settings = load_settings(workspace=args.workspace, port=args.port)
    workspace = Path(settings.workspace or "workspace.toml").resolve()
    if not workspace.exists():
        raise ConfigError(f"no workspace file at {workspace}; pass --workspace (the example: "
                          "--workspace examples/hello/workspace.toml)")
    locations = load_workspace(workspace)
    data_dir = Path(settings.data_dir).resolve()
    make_private_dir(data_dir)
    _check_port_free(settings.host, settings.port)
    _ensure_credentials(settings)

    broker = None
    redis_url = shown_url = settings.redis_url
    if not redis_url:
        from ..broker import EmbeddedBroker

        broker = EmbeddedBroker(data_dir / "valkey")
        broker.start()
        redis_url, shown_url = broker.url, broker.address
    url = _url(settings)
    try:
        rq_worker_url = redis_url
        if settings.run_launcher == "rq":
            from ._agent import rq_worker_broker_url

            # RQ's work horses run user code: the RQ worker gets a restricted broker user
            rq_worker_url = rq_worker_broker_url(settings, redis_url)
        manager = _manager(settings, workspace, data_dir, redis_url, rq_worker_url)
        # the record is private: the CLI's dead-letters commands need the broker's password
        write_dev_record(settings, DevDeployment(url=url, redis_url=redis_url))
        names = ", ".join(spec.name for spec in locations)
        print(f"Tether dev: control plane on {url}, broker "
              f"{shown_url}, database {settings.resolved_database_url}, code locations: "
              f"{names}.\nIn another terminal, from {Path.cwd()}: tether run launch <job> --wait",
              flush=True)
        manager.loop()
    finally:
        remove_dev_record(settings)
        # last: the workers flush to the broker while they stop
        if broker is not None:
            broker.stop()
    return int(manager.returncode or 0)


def _url(settings: Settings) -> str:
    scheme = "https" if settings.tls_cert_file else "http"
    return f"{scheme}://{settings.host}:{settings.port}"


def _manager(settings: Settings, workspace: Path, data_dir: Path, redis_url: str,
             rq_worker_url: str) -> Any:
    """A honcho manager with the Procfile's processes, configured for this deployment."""
    from honcho.manager import Manager

    env = {
        **os.environ,
        "TETHER_DATA_DIR": str(data_dir),
        "TETHER_DATABASE_URL": settings.resolved_database_url,
        "TETHER_REDIS_URL": redis_url,
        "TETHER_URL": _url(settings),
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
        # the token itself is in no process's environment; the dev agent serves the dev
        # control plane's one deployment, with its own token only
        for variable in ("TETHER_AGENT_TOKEN", "TETHER_AGENT_TOKENS", "TETHER_AGENT_TOKEN_FILES"):
            process_env.pop(variable, None)
        if name in NEEDS_AGENT_TOKEN:
            process_env["TETHER_AGENT_TOKEN_FILE"] = str(agent_token_path(settings))
        if name == "rq-worker":
            process_env["TETHER_REDIS_URL"] = rq_worker_url
        if name in NEEDS_CREDENTIALS_FILE:
            process_env["TETHER_DEV_CREDENTIALS_FILE"] = str(credentials_path(settings))
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
    """The local deployment's tokens: reused while the database still accepts them, and
    (re)written to their private files."""
    from ..control_plane.storage import Actor, Store

    store = Store.from_url(settings.resolved_database_url)
    try:
        store.migrate()
        existing = read_credentials(settings)
        reused = existing is not None and all(
            store.authenticate(token) is not None
            for token in (existing.agent_token, existing.user_token)
        )
        if existing is not None and reused:
            credentials = existing
        else:
            actor = Actor(kind="cli", name="tether dev", via="cli")
            credentials = DevCredentials(
                agent_token=store.create_token("agent", name="tether dev agent", actor=actor),
                user_token=store.create_token("user", role="admin", name="tether dev user",
                                              actor=actor),
            )
    finally:
        store.close()
    # rewritten when reused too: moves tokens an earlier version kept in the data folder
    path = write_credentials(settings, credentials)
    print(f"{'Tokens' if reused else 'Created tokens'} for this deployment (its user token "
          f"signs in to the web UI) in {path}", flush=True)
    return credentials
