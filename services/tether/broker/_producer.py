from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..errors import BrokerUnavailable
from ._messages import entry_fields


async def publish(
    redis: aioredis.Redis, stream: str, messages: Sequence[Any], traceparent: str = "",
    deployment: str = "",
) -> list[bytes]:
    """Append ``messages`` (of the work of ``deployment``) to ``stream`` in one round trip;
    returns their entry ids."""
    return await publish_each(redis, [(stream, message, traceparent) for message in messages],
                              deployment=deployment)


async def publish_each(
    redis: aioredis.Redis, entries: Sequence[tuple[str, Any, str] | tuple[str, Any, str, str]],
    deployment: str = "",
) -> list[bytes]:
    """Append each ``(stream, message, traceparent[, deployment])`` in one round trip (an
    entry that names no deployment is of ``deployment``); their entry ids."""
    if not entries:
        return []
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for stream, message, traceparent, *its_deployment in entries:
                fields = entry_fields(message, traceparent,
                                      its_deployment[0] if its_deployment else deployment)
                pipe.xadd(stream, fields)  # type: ignore[arg-type]
            return list(await pipe.execute())
    except RedisError as exc:
        streams = ", ".join(sorted({entry[0] for entry in entries}))
        raise BrokerUnavailable(f"cannot write to stream {streams}: {exc}") from exc
