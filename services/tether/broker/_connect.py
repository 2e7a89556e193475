from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .._backoff import Backoff
from ..errors import BrokerUnavailable

log = logging.getLogger(__name__)


async def connect(url: str, *, wait_seconds: float = 30.0) -> aioredis.Redis:
    """A client for the broker at ``url``, once it answers PING (waits up to ``wait_seconds``,
    since in a local deployment the broker may start at the same moment as its workers)."""
    client = aioredis.Redis.from_url(url)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    backoff = Backoff(maximum=2.0)
    while True:
        try:
            await client.ping()
            return client
        except RedisError as exc:
            if loop.time() > deadline:
                await client.aclose()
                raise BrokerUnavailable(f"broker at {url} is not answering: {exc}") from exc
            log.info("waiting for the broker at %s: %s", url, exc)
            await backoff.wait()
