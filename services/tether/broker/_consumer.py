"""An asyncio consumer of one Redis stream in a consumer group.

Delivery is at least once: an entry stays pending until :meth:`StreamConsumer.ack`; entries a
dead consumer left pending are taken over with XAUTOCLAIM once idle for ``claim_idle_ms``; an
entry that cannot be decoded, or has been delivered ``max_deliveries`` times, goes to the
dead-letter stream with the reason and is acknowledged, so one poison entry never stalls a
worker.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from ..errors import BrokerUnavailable
from ..wire import DeadLetter
from ._keys import DEAD_LETTERS, FIELD_DEPLOYMENT, FIELD_MESSAGE, FIELD_TRACEPARENT

T = TypeVar("T")

_dead_letter_encoder = msgspec.msgpack.Encoder()


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    entry_id: bytes
    message: T
    traceparent: str
    # the deployment of the work it comes from ("": the agent's first token's)
    deployment: str = ""


class StreamConsumer(Generic[T]):
    """Reads ``stream`` as ``consumer`` in ``group``, decoding each entry as ``message_type``."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        stream: str,
        group: str,
        consumer: str,
        message_type: type[T],
        count: int = 100,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        max_deliveries: int = 5,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.count = count
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self._decoder = msgspec.msgpack.Decoder(message_type)
        self._next_claim_check = 0.0
        self._group_ready = False
        # after a broker error, entries delivered to us may never have reached us (the reply
        # was lost): read our own pending entries again before new ones
        self._recover_own = False

    @property
    def recovering(self) -> bool:
        """Whether the next read returns this consumer's own pending entries again (after a
        broker error)."""
        return self._recover_own

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def read(self, *, block_ms: int | None = None) -> list[Entry[T]]:
        """The next entries for this consumer: stale ones taken over from dead consumers first,
        then new ones, waiting up to ``block_ms`` for any to arrive."""
        try:
            if not self._group_ready:
                await self.ensure_group()
            raw = await self._own_pending() if self._recover_own else []
            raw = raw or await self._take_over_stale()
            if not raw:
                reply: Any = await self.redis.xreadgroup(
                    self.group,
                    self.consumer,
                    {self.stream: ">"},
                    count=self.count,
                    block=self.block_ms if block_ms is None else block_ms,
                )
                raw = reply[0][1] if reply else []
        except RedisError as exc:
            self._recover_own = True
            raise BrokerUnavailable(f"cannot read stream {self.stream}: {exc}") from exc
        return await self._decode(raw)

    async def _own_pending(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        reply: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: "0"}, count=self.count)
        raw = reply[0][1] if reply else []
        if not raw:
            self._recover_own = False
        # an entry deleted meanwhile is pending without fields: nothing to hand out
        gone = [entry_id for entry_id, fields in raw if fields is None]
        if gone:
            await self.redis.xack(self.stream, self.group, *gone)
        return [(entry_id, fields) for entry_id, fields in raw if fields is not None]

    async def ack(self, entry_ids: list[bytes]) -> None:
        """Acknowledge and delete handled entries (this stream has one group, so a handled
        entry is needed by no one)."""
        if not entry_ids:
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xack(self.stream, self.group, *entry_ids)
                pipe.xdel(self.stream, *entry_ids)
                await pipe.execute()
        except RedisError as exc:
            self._recover_own = True
            raise BrokerUnavailable(f"cannot acknowledge on {self.stream}: {exc}") from exc

    async def keep_alive(self, entry_ids: Sequence[bytes | str]) -> None:
        """Reset the idle time of entries this consumer still works on (a slow upload), so no
        other consumer takes them over; unlike a new delivery, this counts no attempt."""
        if not entry_ids:
            return
        try:
            await self.redis.xclaim(self.stream, self.group, self.consumer, 0, list(entry_ids),
                                    justid=True)
        except RedisError as exc:
            raise BrokerUnavailable(f"cannot refresh entries of {self.stream}: {exc}") from exc

    async def dead_letter(
        self, entry_id: bytes, fields: dict[bytes, bytes], error: str, deliveries: int = 1
    ) -> None:
        """Move one entry to the dead-letter stream with ``error``, then acknowledge it."""
        letter = DeadLetter(
            stream=self.stream,
            entry_id=entry_id.decode(),
            group=self.group,
            consumer=self.consumer,
            error=error,
            deliveries=deliveries,
            # any writer may add fields: a name that is not UTF-8 must not crash the consumer
            fields={key.decode(errors="backslashreplace"): value
                    for key, value in fields.items()},
            timestamp=time.time(),
        )
        try:
            await self.redis.xadd(DEAD_LETTERS,
                                  {FIELD_MESSAGE: _dead_letter_encoder.encode(letter)})
        except RedisError as exc:
            raise BrokerUnavailable(f"cannot write to {DEAD_LETTERS}: {exc}") from exc
        await self.ack([entry_id])
        # imported here: run workers use this package but never dead-letter
        from .. import _metrics

        _metrics.DEAD_LETTERS.add(1, {"stream": self.stream})

    async def _take_over_stale(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        now = time.monotonic()
        if now < self._next_claim_check:
            return []
        self._next_claim_check = now + self.claim_idle_ms / 2000
        reply: Any = await self.redis.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, "0-0", count=self.count
        )
        claimed: list[tuple[bytes, dict[bytes, bytes]]] = [
            item for item in reply[1] if item[1] is not None
        ]
        if not claimed:
            return []
        # a message that keeps killing its consumer must not be retried forever
        pending: Any = await self.redis.xpending_range(
            self.stream, self.group, min=claimed[0][0], max=claimed[-1][0], count=len(claimed)
        )
        deliveries: dict[bytes, int] = {p["message_id"]: p["times_delivered"] for p in pending}
        keep = []
        for entry_id, fields in claimed:
            times = deliveries.get(entry_id, 1)
            if times > self.max_deliveries:
                await self.dead_letter(
                    entry_id, fields, f"delivered {times} times without being handled", times
                )
            else:
                keep.append((entry_id, fields))
        return keep

    async def _decode(self, raw: list[tuple[bytes, dict[bytes, bytes]]]) -> list[Entry[T]]:
        entries: list[Entry[T]] = []
        for entry_id, fields in raw:
            try:
                message = self._decoder.decode(fields[FIELD_MESSAGE])
            except (KeyError, msgspec.DecodeError) as exc:
                reason = "missing field 'm'" if isinstance(exc, KeyError) else str(exc)
                await self.dead_letter(entry_id, fields, f"undecodable entry: {reason}")
                continue
            traceparent = fields.get(FIELD_TRACEPARENT, b"").decode(errors="replace")
            deployment = fields.get(FIELD_DEPLOYMENT, b"").decode(errors="replace")
            entries.append(Entry(entry_id, message, traceparent, deployment))
        return entries
