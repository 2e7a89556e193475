"""Redis-stream transport of the agent: producers, consumer groups, dead letters, key layout."""

from . import _keys as keys
from ._acl import RQ_WORKER, RUN_WORKER, BrokerUserError, ensure_user, restricted_users
from ._connect import connect
from ._consumer import Entry, StreamConsumer
from ._dead_letters import (
    DeadLetterNotFound,
    Replayed,
    StoredLetter,
    UnreadableDeadLetter,
    list_dead_letters,
    replay_dead_letter,
    replay_dead_letters,
    summarize_dead_letter,
)
from ._embedded import EmbeddedBroker
from ._messages import entry_fields
from ._producer import publish, publish_each
from ._writer import StreamWriter

__all__ = [
    "RQ_WORKER",
    "RUN_WORKER",
    "BrokerUserError",
    "DeadLetterNotFound",
    "EmbeddedBroker",
    "Entry",
    "Replayed",
    "StoredLetter",
    "StreamConsumer",
    "StreamWriter",
    "UnreadableDeadLetter",
    "connect",
    "ensure_user",
    "entry_fields",
    "keys",
    "list_dead_letters",
    "publish",
    "publish_each",
    "replay_dead_letter",
    "replay_dead_letters",
    "restricted_users",
    "summarize_dead_letter",
]
