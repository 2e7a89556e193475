"""Redis-stream transport of the agent: producers, consumer groups, dead letters, key layout.

Each name is imported from its module when it is first used, not with the package: a run
worker, which pays for every import on each start, writes its output with
:class:`StreamWriter` and needs nothing of the consumer, the dead letters, the broker users
or the embedded broker (``tests/runworker/test_imports.py`` keeps it so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import import_lazily
from . import _keys as keys

if TYPE_CHECKING:
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

# name → the module that defines it
_MODULES = {
    "RQ_WORKER": "._acl",
    "RUN_WORKER": "._acl",
    "BrokerUserError": "._acl",
    "ensure_user": "._acl",
    "restricted_users": "._acl",
    "connect": "._connect",
    "Entry": "._consumer",
    "StreamConsumer": "._consumer",
    "DeadLetterNotFound": "._dead_letters",
    "Replayed": "._dead_letters",
    "StoredLetter": "._dead_letters",
    "UnreadableDeadLetter": "._dead_letters",
    "list_dead_letters": "._dead_letters",
    "replay_dead_letter": "._dead_letters",
    "replay_dead_letters": "._dead_letters",
    "summarize_dead_letter": "._dead_letters",
    "EmbeddedBroker": "._embedded",
    "entry_fields": "._messages",
    "publish": "._producer",
    "publish_each": "._producer",
    "StreamWriter": "._writer",
}


def __getattr__(name: str) -> object:
    return import_lazily(__name__, _MODULES, name)


def __dir__() -> list[str]:
    return sorted(__all__)


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
