"""Reading and replaying the dead-letter stream, for the ``tether agent dead-letters`` command.

A dead letter keeps the fields of the entry a consumer could not handle. Replaying one appends
those fields to the source stream as a new entry and deletes the letter, in one server-side
step: two people replaying the same letter at once replay it once.

This runs in a short-lived command, so it uses the synchronous client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import redis
from redis.exceptions import RedisError, ResponseError

from ..errors import BrokerUnavailable, TetherError
from ..wire import DeadLetter, LocationSpec, WorkItem
from ._keys import DEAD_LETTERS, FIELD_MESSAGE, MESSAGE_TYPES

_PAGE = 500

_letter_decoder = msgspec.msgpack.Decoder(DeadLetter)
_decoders = {stream: msgspec.msgpack.Decoder(kind) for stream, kind in MESSAGE_TYPES.items()}

# the letter is deleted and its fields appended in one step, or nothing happens
_REPLAY = """
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then
    return false
end
return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
"""

# what a summary names of a message, when it has it: (attribute, label)
_SUMMARY_FIELDS = (("run_id", "run"), ("attempt", "attempt"), ("stream", "stream"),
                   ("seq", "seq"), ("step_key", "step"), ("location", "location"))


class DeadLetterNotFound(TetherError):
    """No dead letter has the given id (it was replayed already, or never existed)."""


class UnreadableDeadLetter(TetherError):
    """A dead-letter entry that is not a dead letter: nothing to replay it from."""


@dataclass(frozen=True, slots=True)
class StoredLetter:
    """One entry of the dead-letter stream: its id there, and the letter (None when the
    entry itself cannot be decoded, which only a foreign writer causes)."""

    letter_id: str
    letter: DeadLetter | None
    size: int


@dataclass(frozen=True, slots=True)
class Replayed:
    letter_id: str
    stream: str
    new_entry_id: str
    summary: str


def list_dead_letters(client: redis.Redis, *, stream: str | None = None,
                      limit: int | None = None) -> tuple[list[StoredLetter], int]:
    """The dead letters, oldest first (only those from ``stream``, when given), at most
    ``limit`` of them; and how many match in all."""
    shown: list[StoredLetter] = []
    total = 0
    for stored in _scan(client):
        if stream is not None and (stored.letter is None or stored.letter.stream != stream):
            continue
        total += 1
        if limit is None or len(shown) < limit:
            shown.append(stored)
    return shown, total


def replay_dead_letter(client: redis.Redis, letter_id: str) -> Replayed:
    """Put the entry of dead letter ``letter_id`` back on its stream and delete the letter."""
    unknown = DeadLetterNotFound(
        f"no dead letter {letter_id!r}; `tether agent dead-letters list` shows their ids")
    try:
        found: Any = client.xrange(DEAD_LETTERS, min=letter_id, max=letter_id)
    except ResponseError as exc:
        # not an entry id at all
        raise unknown from exc
    except RedisError as exc:
        raise BrokerUnavailable(f"cannot read {DEAD_LETTERS}: {exc}") from exc
    if not found:
        raise unknown
    stored = _stored(*found[0])
    return _replay(client, stored)


def replay_dead_letters(client: redis.Redis, *, stream: str | None = None) -> list[Replayed]:
    """Replay every dead letter (from ``stream``, when given), oldest first; an entry of the
    dead-letter stream that is not a readable letter is left where it is."""
    letters, _ = list_dead_letters(client, stream=stream)
    replayed = []
    for stored in letters:
        if stored.letter is None:
            continue
        try:
            replayed.append(_replay(client, stored))
        except DeadLetterNotFound:
            continue  # someone else replayed it meanwhile
    return replayed


def summarize_dead_letter(letter: DeadLetter) -> str:
    """A short description of the entry a letter keeps: the message it carries when that
    decodes as the source stream's type (``LaunchRun run=... attempt=1``), else its size."""
    raw = letter.fields.get(FIELD_MESSAGE.decode())
    if raw is None:
        names = ", ".join(sorted(letter.fields)) or "none"
        return f"no '{FIELD_MESSAGE.decode()}' field (fields: {names})"
    decoder = _decoders.get(letter.stream)
    if decoder is not None:
        try:
            return _describe(decoder.decode(raw))
        except msgspec.DecodeError:
            pass
    return f"{len(raw)} bytes, not a message of {letter.stream}"


def _describe(message: Any) -> str:
    """``StepStart run=<id> attempt=1 seq=3 step=load``: the type and the ids of a message."""
    if isinstance(message, WorkItem):
        return f"{_describe(message.payload)} work={message.work_id} epoch={message.epoch}"
    parts = [type(message).__name__]
    for attribute, label in _SUMMARY_FIELDS:
        value = getattr(message, attribute, None)
        if value is None:
            continue
        if isinstance(value, LocationSpec):
            value = value.name
        parts.append(f"{label}={value}")
    return " ".join(parts)


def _replay(client: redis.Redis, stored: StoredLetter) -> Replayed:
    letter = stored.letter
    if letter is None:
        raise UnreadableDeadLetter(
            f"dead letter {stored.letter_id} cannot be decoded ({stored.size} bytes); "
            f"inspect it with XRANGE {DEAD_LETTERS} {stored.letter_id} {stored.letter_id}")
    if not letter.fields:
        raise UnreadableDeadLetter(f"dead letter {stored.letter_id} kept no fields to replay")
    flat: list[str | bytes] = [stored.letter_id]
    for name, value in letter.fields.items():
        flat += [name, value]
    try:
        new_id: Any = client.eval(_REPLAY, 2, DEAD_LETTERS, letter.stream, *flat)
    except RedisError as exc:
        raise BrokerUnavailable(
            f"cannot replay {stored.letter_id} to {letter.stream}: {exc}") from exc
    if new_id is None:
        raise DeadLetterNotFound(f"dead letter {stored.letter_id} was replayed meanwhile")
    return Replayed(letter_id=stored.letter_id, stream=letter.stream,
                    new_entry_id=new_id.decode(), summary=summarize_dead_letter(letter))


def _scan(client: redis.Redis) -> Iterator[StoredLetter]:
    start = "-"
    while True:
        try:
            page: Any = client.xrange(DEAD_LETTERS, min=start, count=_PAGE)
        except RedisError as exc:
            raise BrokerUnavailable(f"cannot read {DEAD_LETTERS}: {exc}") from exc
        for entry_id, fields in page:
            yield _stored(entry_id, fields)
        if len(page) < _PAGE:
            return
        start = "(" + page[-1][0].decode()


def _stored(entry_id: bytes, fields: dict[bytes, bytes]) -> StoredLetter:
    raw = fields.get(FIELD_MESSAGE, b"")
    try:
        letter: DeadLetter | None = _letter_decoder.decode(raw)
    except msgspec.DecodeError:
        letter = None
    return StoredLetter(letter_id=entry_id.decode(), letter=letter, size=len(raw))
