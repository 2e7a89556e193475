"""Which of an agent's tokens serves which deployment.

An agent may hold a token per deployment it serves. The control plane names a token's
deployment in its answer to that token's heartbeat; the poller records the answer in the
agent's broker (deployment → the token's fingerprint, never the token), tags the work it
claims with the token's deployment, and every entry written for that work carries the tag
(broker keys: ``d``). The uploader reports each entry with the token of its deployment, so a
run of one deployment is never reported with another's token.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..broker import keys
from ..errors import BrokerUnavailable
from ._client import ControlPlaneClient

# how often at most the uploader reads the deployments again for one it does not know
REFRESH_SECONDS = 1.0


async def record_deployment(redis: aioredis.Redis, deployment: str, fingerprint: str) -> None:
    """Note that the token of ``fingerprint`` serves ``deployment`` (the poller, after each
    heartbeat)."""
    try:
        await redis.hset(keys.AGENT_DEPLOYMENTS, deployment, fingerprint)
    except RedisError as exc:
        raise BrokerUnavailable(f"cannot record the deployment {deployment}: {exc}") from exc


async def recorded_deployment(redis: aioredis.Redis, fingerprint: str) -> str | None:
    """The deployment the token of ``fingerprint`` served when a poller last heard of it
    (a poller that restarted since knows it from here only)."""
    try:
        raw: dict[Any, Any] = await redis.hgetall(keys.AGENT_DEPLOYMENTS)
    except RedisError as exc:
        raise BrokerUnavailable(f"cannot read the agent's deployments: {exc}") from exc
    return next((name.decode() for name, served_by in raw.items()
                 if served_by.decode() == fingerprint), None)


async def forget_deployment(redis: aioredis.Redis, deployment: str, fingerprint: str) -> None:
    """Note that the token of ``fingerprint`` serves ``deployment`` no more (it was revoked),
    unless another token serves it meanwhile: its entries then go to the dead letters."""
    try:
        if await redis.hget(keys.AGENT_DEPLOYMENTS, deployment) == fingerprint.encode():
            await redis.hdel(keys.AGENT_DEPLOYMENTS, deployment)
    except RedisError as exc:
        raise BrokerUnavailable(f"cannot forget the deployment {deployment}: {exc}") from exc


class DeploymentClients:
    """The client to report the entries of each deployment with: that of the token the
    pollers recorded for the deployment (whichever tokens the agent holds: one that held
    another deployment's token before must not report its entries with this one), and the
    first token's for entries that name none (written before agents tagged them)."""

    def __init__(self, clients: Sequence[ControlPlaneClient], redis: aioredis.Redis) -> None:
        if not clients:
            raise ValueError("an agent needs at least one control-plane client")
        self.clients = list(clients)
        self.redis = redis
        self._by_fingerprint = {client.fingerprint: client for client in clients}
        self._by_deployment: dict[str, ControlPlaneClient] = {}
        self._read_at = float("-inf")

    @property
    def first(self) -> ControlPlaneClient:
        return self.clients[0]

    async def for_deployment(self, deployment: str, *,
                             fresh: bool = False) -> ControlPlaneClient | None:
        """The client of ``deployment``'s token; None when no token of this agent serves it
        (as far as the pollers learned, read again at most every ``REFRESH_SECONDS``, or
        now when ``fresh``: the token was refused, and a poller may have found it revoked)."""
        if not deployment:
            return self.first
        client = None if fresh else self._by_deployment.get(deployment)
        if client is None and (fresh or time.monotonic() - self._read_at >= REFRESH_SECONDS):
            await self._read()
            client = self._by_deployment.get(deployment)
        return client

    async def _read(self) -> None:
        try:
            raw: dict[Any, Any] = await self.redis.hgetall(keys.AGENT_DEPLOYMENTS)
        except RedisError as exc:
            raise BrokerUnavailable(f"cannot read the agent's deployments: {exc}") from exc
        self._read_at = time.monotonic()
        self._by_deployment = {
            name.decode(): client for name, fingerprint in raw.items()
            if (client := self._by_fingerprint.get(fingerprint.decode())) is not None}
