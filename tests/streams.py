"""Reading what agent processes wrote to the broker, for assertions."""

from __future__ import annotations

from typing import Any

import msgspec
import redis

from tether.broker import keys
from tether.wire import AgentResult, LogChunk, RunEvent

_TYPES: dict[str, Any] = {keys.OUT_EVENTS: RunEvent, keys.OUT_LOGS: LogChunk,
                          keys.OUT_RESULTS: AgentResult}


def read_stream(url: str, stream: str) -> list[Any]:
    client = redis.Redis.from_url(url)
    try:
        entries = client.xrange(stream)
    finally:
        client.close()
    decoder = msgspec.msgpack.Decoder(_TYPES[stream])
    return [decoder.decode(fields[b"m"]) for _, fields in entries]
