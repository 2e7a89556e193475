"""Redis-stream transport of the agent: producers, consumer groups, dead letters, key layout."""

from . import _keys as keys
from ._connect import connect
from ._consumer import Entry, StreamConsumer
from ._messages import entry_fields
from ._producer import publish
from ._writer import StreamWriter

__all__ = [
    "Entry",
    "StreamConsumer",
    "StreamWriter",
    "connect",
    "entry_fields",
    "keys",
    "publish",
]
