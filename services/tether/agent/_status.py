"""Each agent worker's status, kept fresh in the agent's broker for the poller's heartbeat.

A worker writes its :class:`WorkerStatus` under its own key every few seconds with a short
expiry, so a worker that dies simply disappears from the agent's next heartbeat.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..broker import keys
from ..wire import WorkerStatus

log = logging.getLogger(__name__)

STATUS_INTERVAL = 5.0
_encoder = msgspec.msgpack.Encoder()


class RecentErrors(logging.Handler):
    """Keeps the last warnings and errors this process logged, for its status."""

    def __init__(self, keep: int = 10) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: collections.deque[str] = collections.deque(maxlen=keep)

    def emit(self, record: logging.LogRecord) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        self.messages.append(f"{stamp} {record.levelname} {record.getMessage()}"[:500])


@contextlib.asynccontextmanager
async def reporting_status(
    redis: aioredis.Redis, *, kind: str, consumer: str,
    details: Callable[[], dict[str, Any]] = dict,
) -> AsyncIterator[None]:
    """While the block runs, write this worker's status every ``STATUS_INTERVAL`` seconds;
    ``details`` adds the worker's own fields (running runs, code servers)."""
    errors = RecentErrors()
    logging.getLogger().addHandler(errors)
    started_at = time.time()
    key = keys.worker_status_key(consumer)

    async def report() -> None:
        while True:
            status = WorkerStatus(kind=kind, consumer=consumer, pid=os.getpid(),
                                  started_at=started_at, seen_at=time.time(),
                                  recent_errors=list(errors.messages), **details())
            try:
                await redis.set(key, _encoder.encode(status),
                                ex=int(STATUS_INTERVAL * 3))
            except RedisError as exc:
                log.debug("status not written: %s", exc)
            await asyncio.sleep(STATUS_INTERVAL)

    task = asyncio.ensure_future(report())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        logging.getLogger().removeHandler(errors)
        with contextlib.suppress(RedisError):
            await redis.delete(key)


async def read_statuses(redis: aioredis.Redis) -> list[WorkerStatus]:
    """The statuses of the agent's live workers."""
    decoder = msgspec.msgpack.Decoder(WorkerStatus)
    found = [key async for key in redis.scan_iter(match=keys.worker_status_key("*"))]
    if not found:
        return []
    values: list[bytes | None] = await redis.mget(found)  # type: ignore[assignment]
    statuses = []
    for value in values:
        if value is None:
            continue
        with contextlib.suppress(msgspec.DecodeError):
            statuses.append(decoder.decode(value))
    return sorted(statuses, key=lambda status: (status.kind, status.consumer))


class StreamStats(msgspec.Struct, frozen=True):
    """One stream's length, or one consumer group's pending count and lag on it."""

    stream: str
    length: int
    group: str = ""
    pending: int = 0
    lag: int = 0


STREAMS = (keys.WORK_RUNS, keys.WORK_CODE, keys.OUT_EVENTS, keys.OUT_LOGS, keys.OUT_RESULTS,
           keys.DEAD_LETTERS)


async def stream_stats(redis: aioredis.Redis) -> list[StreamStats]:
    """The length of every agent stream and the pending count and lag of its groups."""
    stats = []
    for stream in STREAMS:
        length = await redis.xlen(stream)
        stats.append(StreamStats(stream=stream, length=length))
        if not length:
            continue
        for group in await redis.xinfo_groups(stream):
            # lag is unknown (nil) after some deletions: count it as the whole stream then
            lag = group.get("lag")
            stats.append(StreamStats(
                stream=stream, length=length, group=_text(group["name"]),
                pending=int(group["pending"]), lag=int(lag) if lag is not None else length))
    return stats


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
