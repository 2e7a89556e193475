"""``tether control-plane ...``, ``tether code-server serve`` and ``tether api execute-run``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..settings import load_settings


def register(commands: Any) -> None:
    cp = commands.add_parser("control-plane", help="run or administer the control plane")
    cp_commands = cp.add_subparsers(dest="cp_command", required=True, metavar="COMMAND")
    serve = cp_commands.add_parser("serve", help="serve the web UI, GraphQL and agent APIs")
    serve.set_defaults(handler=_serve_control_plane)
    migrate = cp_commands.add_parser("migrate", help="create or upgrade the database schema")
    migrate.set_defaults(handler=_migrate)
    token = cp_commands.add_parser("create-token", help="create a token; it is shown once")
    token.add_argument("--kind", choices=["agent", "user"], required=True)
    token.add_argument("--role", choices=["viewer", "launcher", "admin"], default="admin")
    token.add_argument("--name", default="")
    token.set_defaults(handler=_create_token)

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
    from .._logging import configure_logging
    from ..control_plane import serve

    settings = load_settings()
    configure_logging(settings.log_level, "control-plane")
    serve(settings)
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


def _create_token(args: argparse.Namespace) -> int:
    from ..control_plane.storage import Store

    settings = load_settings()
    store = Store.from_url(settings.resolved_database_url)
    try:
        store.migrate()
        token = store.create_token(args.kind, role=args.role, name=args.name)
    finally:
        store.close()
    print(token)
    return 0


def _serve_code_server(args: argparse.Namespace) -> int:
    import msgspec

    from .._logging import configure_logging
    from ..codeserver import serve
    from ..errors import ConfigError
    from ..wire import LocationSpec

    try:
        spec = msgspec.json.decode(args.location_json, type=LocationSpec)
    except (msgspec.DecodeError, ValueError) as exc:
        raise ConfigError(f"--location-json is not a valid code location: {exc}") from exc
    configure_logging(load_settings().log_level, f"code-server[{spec.name}]")
    serve(spec, host=args.host, port=args.port)
    return 0


def _execute_run(args: argparse.Namespace) -> int:
    import msgspec

    from ..errors import ConfigError
    from ..runworker import execute_run
    from ..wire import LaunchRun

    try:
        launch = msgspec.json.decode(args.launch_json, type=LaunchRun)
    except (msgspec.DecodeError, ValueError) as exc:
        raise ConfigError(f"--launch-json is not a valid launch: {exc}") from exc
    settings = load_settings()
    return execute_run(launch, redis_url=settings.require("redis_url"),
                       traceparent=os.environ.get("TRACEPARENT", ""))


def _serve_zygote(args: argparse.Namespace) -> int:
    import msgspec

    from ..errors import ConfigError
    from ..runworker._zygote import serve_zygote
    from ..wire import LocationSpec

    try:
        spec = msgspec.json.decode(args.location_json, type=LocationSpec)
    except (msgspec.DecodeError, ValueError) as exc:
        raise ConfigError(f"--location-json is not a valid code location: {exc}") from exc
    return serve_zygote(spec, args.socket)
