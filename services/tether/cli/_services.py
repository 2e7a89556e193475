"""``tether control-plane ...``, ``tether code-server serve`` and ``tether api execute-run``."""

from __future__ import annotations

import argparse
import os
from typing import Any, TypeVar

from ..settings import load_settings

T = TypeVar("T")


def register(commands: Any) -> None:
    cp = commands.add_parser("control-plane", help="run or administer the control plane")
    cp_commands = cp.add_subparsers(dest="cp_command", required=True, metavar="COMMAND")
    serve = cp_commands.add_parser("serve", help="serve the web UI, GraphQL and agent APIs")
    serve.set_defaults(handler=_serve_control_plane)
    daemons = cp_commands.add_parser("daemons", help="run the run queue and the run monitor "
                                     "(safe to run twice: each daemon has one leader)")
    daemons.set_defaults(handler=_run_daemons)
    migrate = cp_commands.add_parser("migrate", help="create or upgrade the database schema")
    migrate.set_defaults(handler=_migrate)
    token = cp_commands.add_parser("create-token", help="create a token; it is shown once")
    token.add_argument("--kind", choices=["agent", "user"], required=True)
    token.add_argument("--role", choices=["viewer", "launcher", "admin"], default="admin")
    token.add_argument("--name", default="")
    token.add_argument("--role-in", action="append", default=[], metavar="DEPLOYMENT=ROLE",
                       help="a user token's role in one deployment (repeat it: e.g. "
                       "prod=viewer staging=launcher); given, the token works in those "
                       "deployments only. An agent token serves the deployment of "
                       "`tether --deployment` (TETHER_DEPLOYMENT), prod by default")
    token.add_argument("--expires-in", metavar="DURATION",
                       help="refuse the token after this long: a number and a unit, s, m, h "
                       "or d (e.g. 90d); default: never")
    token.set_defaults(handler=_create_token)
    tokens = cp_commands.add_parser("list-tokens", help="list tokens with their last use")
    tokens.set_defaults(handler=_list_tokens)
    revoke = cp_commands.add_parser("revoke-token", help="revoke a token by its id")
    revoke.add_argument("token_id", type=int, metavar="ID")
    revoke.set_defaults(handler=_revoke_token)

    cs = commands.add_parser("code-server", help="serve one code location over gRPC")
    cs_commands = cs.add_subparsers(dest="cs_command", required=True, metavar="COMMAND")
    cs_serve = cs_commands.add_parser("serve", help="load a code location and answer queries")
    cs_serve.add_argument("--location-json", required=True, help="the LocationSpec as JSON")
    cs_serve.add_argument("--host", default="127.0.0.1")
    cs_serve.add_argument("--port", type=int, required=True)
    cs_serve.set_defaults(handler=_serve_code_server)

    api = commands.add_parser("api", help="internal commands the agent runs")
    api_commands = api.add_subparsers(dest="api_command", required=True, metavar="COMMAND")
    execute = api_commands.add_parser("execute-run", help="execute one run attempt")
    execute.add_argument("--launch-json", required=True, help="the LaunchRun work as JSON")
    execute.set_defaults(handler=_execute_run)
    zygote = api_commands.add_parser("zygote", help="preload a code location and fork run "
                                     "workers from it (the warm launcher starts this)")
    zygote.add_argument("--location-json", required=True, help="the LocationSpec as JSON")
    zygote.add_argument("--socket", required=True, help="the Unix socket to serve on")
    zygote.set_defaults(handler=_serve_zygote)


def _serve_control_plane(args: argparse.Namespace) -> int:
    from .. import _telemetry as telemetry
    from .._logging import configure_logging
    from ..control_plane import serve

    settings = load_settings()
    configure_logging(settings.log_level, "control-plane", settings.log_format)
    telemetry.configure("tether-control-plane")
    try:
        serve(settings)
    finally:
        telemetry.shutdown()
    return 0


def _run_daemons(args: argparse.Namespace) -> int:
    import signal
    import threading

    from .. import _telemetry as telemetry
    from .._logging import configure_logging
    from ..control_plane._daemons import run_daemons
    from ..control_plane.storage import QueueLimits, Store

    settings = load_settings()
    configure_logging(settings.log_level, "daemons", settings.log_format)
    telemetry.configure("tether-daemons")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    store = Store.from_url(settings.resolved_database_url,
                           limits=QueueLimits.from_settings(settings))
    try:
        store.migrate()
        run_daemons(store, settings, stop)
    finally:
        store.close()
        telemetry.shutdown()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from ..control_plane.storage import Store

    settings = load_settings()
    store = Store.from_url(settings.resolved_database_url)
    try:
        store.migrate()
    finally:
        store.close()
    print(f"database at {settings.resolved_database_url} is up to date")
    return 0


def _cli_actor() -> Any:
    """The CLI as the audit log records it: it writes to the store directly, with no token,
    so it is named by the OS user and host that ran it."""
    import getpass
    import socket

    from ..control_plane.storage import Actor

    return Actor(kind="cli", name=getpass.getuser(), via="cli", client=socket.gethostname())


def _create_token(args: argparse.Namespace) -> int:
    from ..control_plane._audit import parse_expires_in
    from ..control_plane.storage import Store

    expires_in = None if args.expires_in is None else parse_expires_in(args.expires_in)
    roles = dict(_role_in(text) for text in args.role_in)
    settings = load_settings()
    store = Store.from_url(settings.resolved_database_url)
    try:
        store.migrate()
        token = store.scoped(settings.deployment).create_token(
            args.kind, role=args.role, name=args.name, expires_in=expires_in, roles=roles,
            actor=_cli_actor())
    finally:
        store.close()
    print(token)
    return 0


def _role_in(text: str) -> tuple[str, Any]:
    from ..errors import ConfigError

    deployment, _, role = text.partition("=")
    if not deployment or role not in ("viewer", "launcher", "admin"):
        raise ConfigError(f"--role-in {text!r}: write DEPLOYMENT=ROLE, ROLE one of viewer, "
                          "launcher or admin (e.g. --role-in staging=launcher)")
    return deployment, role


def _list_tokens(args: argparse.Namespace) -> int:
    import time

    from ..control_plane.storage import Store

    def when(epoch: float | None) -> str:
        return "-" if epoch is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch))

    settings = load_settings()
    store = Store.from_url(settings.resolved_database_url)
    try:
        store.migrate()
        scoped = store.scoped(settings.deployment)
        records = [(t, scoped.token_roles(t.id)) for t in scoped.list_tokens()]
        now = store.now()
    finally:
        store.close()
    print(f"{'ID':>4}  {'KIND':<5}  {'ROLE':<8}  {'STATE':<7}  {'LAST USED (UTC)':<16}  "
          f"{'EXPIRES (UTC)':<16}  {'DEPLOYMENT':<16}  NAME")
    for t, roles in records:
        state = ("revoked" if t.revoked_at else
                 "expired" if t.expires_at is not None and t.expires_at <= now else "active")
        # an agent token's deployment; a user token's roles per deployment, or all of them
        where = t.deployment or (",".join(f"{d}={r}" for d, r in roles.items()) or "all")
        role = "-" if roles else t.role
        print(f"{t.id:>4}  {t.kind:<5}  {role:<8}  {state:<7}  {when(t.last_used_at):<16}  "
              f"{when(t.expires_at):<16}  {where:<16}  {t.name}")
    return 0


def _revoke_token(args: argparse.Namespace) -> int:
    from ..control_plane.storage import Store
    from ..errors import ConfigError

    settings = load_settings()
    store = Store.from_url(settings.resolved_database_url)
    try:
        store.migrate()
        revoked = store.scoped(settings.deployment).revoke_token(args.token_id,
                                                                actor=_cli_actor())
    finally:
        store.close()
    if not revoked:
        raise ConfigError(f"no unrevoked token has id {args.token_id}; "
                          "`tether control-plane list-tokens` shows them")
    print(f"revoked token {args.token_id}")
    return 0


def _decode_argument(option: str, text: str, kind: type[T]) -> T:
    """The JSON value of an internal command's option, as the wire type it carries."""
    import msgspec

    from ..errors import ConfigError

    try:
        return msgspec.json.decode(text, type=kind)
    except (msgspec.DecodeError, ValueError) as exc:
        raise ConfigError(f"{option} is not a valid {kind.__name__}: {exc}") from exc


def _serve_code_server(args: argparse.Namespace) -> int:
    from .. import _telemetry as telemetry
    from .._logging import configure_logging
    from ..codeserver import serve
    from ..wire import LocationSpec

    spec = _decode_argument("--location-json", args.location_json, LocationSpec)
    settings = load_settings()
    configure_logging(settings.log_level, f"code-server[{spec.name}]", settings.log_format)
    telemetry.configure("tether-code-server", metrics=False)
    try:
        serve(spec, host=args.host, port=args.port)
    finally:
        telemetry.shutdown()
    return 0


def _execute_run(args: argparse.Namespace) -> int:
    from ..runworker import execute_run
    from ..wire import LaunchRun

    launch = _decode_argument("--launch-json", args.launch_json, LaunchRun)
    settings = load_settings()
    return execute_run(launch, redis_url=settings.require("redis_url"),
                       traceparent=os.environ.get("TRACEPARENT", ""),
                       storage_dir=settings.resolved_storage_dir)


def _serve_zygote(args: argparse.Namespace) -> int:
    from ..runworker._zygote import serve_zygote
    from ..wire import LocationSpec

    return serve_zygote(_decode_argument("--location-json", args.location_json, LocationSpec),
                        args.socket)
