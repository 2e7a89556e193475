"""The command line that starts a code server, kept apart so building it needs no grpc."""

from __future__ import annotations

import sys

import msgspec

from ..wire import LocationSpec


def code_server_command(spec: LocationSpec, port: int, python: str | None = None) -> list[str]:
    """The argv of ``tether code-server serve`` for ``spec`` on ``port``.

    ``python`` is the interpreter to run it with (the location's own virtualenv); by default
    the current one.
    """
    location_json = msgspec.json.encode(spec).decode()
    return [
        python or sys.executable,
        "-m",
        "tether",
        "code-server",
        "serve",
        "--location-json",
        location_json,
        "--port",
        str(port),
    ]
