"""The warm launcher's protocol: a launcher asks a location's zygote to fork a run worker.

Frames on a Unix socket, each a 4-byte big-endian length and a msgpack body. The request
carries the child's stdout and stderr (the write ends of the launcher's pipes) as SCM_RIGHTS
file descriptors. The zygote answers with a :class:`ForkReply`, then, when the child has
exited, a :class:`ForkExit`.
"""

from __future__ import annotations

import msgspec

from ._work import LaunchRun


class ForkRequest(msgspec.Struct, kw_only=True, frozen=True):
    launch: LaunchRun
    # the run worker's whole environment, as a cold start would have it
    env: dict[str, str]
    traceparent: str = ""


class ForkReply(msgspec.Struct, kw_only=True, frozen=True):
    pid: int = 0
    # the location's code changed on disk since the zygote loaded it: start cold instead
    stale: bool = False
    error: str = ""


class ForkExit(msgspec.Struct, kw_only=True, frozen=True):
    exit_code: int
