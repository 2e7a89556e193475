from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..errors import BrokerUnavailable
from ._messages import entry_fields


async def publish(
    redis: aioredis.Redis, stream: str, messages: Sequence[Any], traceparent: str = ""
) -> list[bytes]:
    """Append ``messages`` to ``stream`` in one round trip; returns their entry ids."""
    return await publish_each(redis, [(stream, message, traceparent) for message in messages])


async def publish_each(
    redis: aioredis.Redis, entries: Sequence[tuple[str, Any, str]]
) -> list[bytes]:
    """Append each ``(stream, message, traceparent)`` in one round trip; their entry ids."""
    if not entries:
        return []
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for stream, message, traceparent in entries:
                pipe.xadd(stream, entry_fields(message, traceparent))  # type: ignore[arg-type]
            return list(await pipe.execute())
    except RedisError as exc:
        streams = ", ".join(sorted({stream for stream, _, _ in entries}))
        raise BrokerUnavailable(f"cannot write to stream {streams}: {exc}") from exc
