"""Reading what agent processes wrote to the broker, for assertions."""

from __future__ import annotations

from typing import Any

import msgspec
import redis

from tether.broker import keys
from tether.wire import DeadLetter


def read_stream(url: str, stream: str) -> list[Any]:
    """The messages on ``stream``, decoded as the type it carries."""
    client = redis.Redis.from_url(url)
    try:
        entries = client.xrange(stream)
    finally:
        client.close()
    decoder = msgspec.msgpack.Decoder(keys.MESSAGE_TYPES[stream])
    return [decoder.decode(fields[keys.FIELD_MESSAGE]) for _, fields in entries]


def dead_letters(url: str) -> list[DeadLetter]:
    letters: list[DeadLetter] = read_stream(url, keys.DEAD_LETTERS)
    return letters
