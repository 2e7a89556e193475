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
    if not messages:
        return []
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.xadd(stream, entry_fields(message, traceparent))  # type: ignore[arg-type]
            return list(await pipe.execute())
    except RedisError as exc:
        raise BrokerUnavailable(f"cannot write to stream {stream}: {exc}") from exc
