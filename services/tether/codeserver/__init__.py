"""The code server of a code location (gRPC, ``schemas/codeserver.proto``) and its client.

``code_server_command`` needs no grpc; ``serve``, ``CodeServerClient`` and ``PingInfo`` are
imported on first use, so that importing this package stays as light as the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import import_lazily
from ._command import code_server_command

if TYPE_CHECKING:
    from ._client import CodeServerClient, PingInfo
    from ._server import LoadedLocation, load_location, serve

__all__ = [
    "CodeServerClient",
    "LoadedLocation",
    "PingInfo",
    "code_server_command",
    "load_location",
    "serve",
]

_LAZY = {
    "CodeServerClient": "._client",
    "PingInfo": "._client",
    "LoadedLocation": "._server",
    "load_location": "._server",
    "serve": "._server",
}


def __getattr__(name: str) -> object:
    return import_lazily(__name__, _LAZY, name)
