"""The supervisors' shared state in the agent's broker: which locations to serve (the desired
set, fed by the control plane's work items), which code servers run, and who serves what.

The supervisor never calls the control plane: a LoadLocation or RemoveLocation work item,
handed over by the poller, updates the desired set here, and the supervisor that owns a
location reconciles its code servers against it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from ..broker import keys
from ..errors import BrokerUnavailable
from ..wire import DEFAULT_DEPLOYMENT, CodeServerRecord, DesiredLocation
from ._processes import is_running

_encode = msgspec.msgpack.Encoder().encode
_desired_decoder = msgspec.msgpack.Decoder(DesiredLocation)
_record_decoder = msgspec.msgpack.Decoder(CodeServerRecord)

# SET the owner key to us when free or ours already, with a fresh expiry
_ACQUIRE = """
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# SET the owner key to us if it still names the (dead) owner we found
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class _Keep:
    """``decide``'s answer for: leave the entry as it is."""


KEEP = _Keep()


class CodeRegistry:
    def __init__(self, redis: aioredis.Redis, *, consumer: str, host: str) -> None:
        self.redis = redis
        self.consumer = consumer
        self.host = host
        # what the owner key of a location we serve holds: where we run, so that a
        # successor on this host can tell we died
        self.owner = f"{host}|{os.getpid()}|{consumer}"

    async def desire(self, desired: DesiredLocation) -> bool:
        """Record ``desired`` unless a newer generation of the location is recorded; True
        when it was recorded (a redelivered item of the same generation is, to renew its
        work id and epoch)."""

        def decide(current: DesiredLocation | None) -> DesiredLocation | _Keep | None:
            if current is not None and current.generation > desired.generation:
                return KEEP
            return desired

        return await self._update(served(desired), decide)

    async def undesire(self, name: str, generation: int) -> bool:
        """Forget the served location ``name`` (:func:`keys.served_location`) unless a newer
        deploy than ``generation`` is recorded."""

        def decide(current: DesiredLocation | None) -> DesiredLocation | _Keep | None:
            return KEEP if current is not None and current.generation > generation else None

        return await self._update(name, decide)

    async def desired(self) -> dict[str, DesiredLocation]:
        raw: dict[bytes, bytes] = await self._call("hgetall", keys.CODE_DESIRED)
        return {name.decode(): _desired_decoder.decode(value) for name, value in raw.items()}

    async def mark_reported(self, desired: DesiredLocation) -> None:
        """Clear the work item of ``desired`` once its result is published, unless a newer
        item replaced it meanwhile."""
        cleared = msgspec.structs.replace(desired, work_id="", epoch=0, traceparent="")

        def decide(current: DesiredLocation | None) -> DesiredLocation | _Keep | None:
            return cleared if current == desired else KEEP

        await self._update(served(desired), decide)

    async def _update(
        self, name: str,
        decide: Callable[[DesiredLocation | None], DesiredLocation | _Keep | None],
    ) -> bool:
        """Replace (or with None delete) the location's desired entry by ``decide(current)``
        atomically (WATCH/MULTI); False when ``decide`` keeps it as it is."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(keys.CODE_DESIRED)
                        raw = await pipe.hget(keys.CODE_DESIRED, name)
                        current = (None if raw is None
                                   else _desired_decoder.decode(cast(bytes, raw)))
                        decision = decide(current)
                        if isinstance(decision, _Keep):
                            return False
                        pipe.multi()  # type: ignore[no-untyped-call]
                        if decision is None:
                            pipe.hdel(keys.CODE_DESIRED, name)
                        else:
                            pipe.hset(keys.CODE_DESIRED, name, _encode(decision))
                        await pipe.execute()
                        return True
                    except WatchError:
                        continue
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def own(self, name: str) -> bool:
        """Take or renew the ownership of a location; False while another supervisor has it.
        A supervisor of this host that died (kill -9) is taken over at once rather than when
        its ownership lapses: its successor adopts its servers, or stops them, right away."""
        key = keys.code_owner_key(name)
        ttl = str(int(keys.CODE_OWNER_SECONDS * 1000))
        if await self._call("eval", _ACQUIRE, 1, key, self.owner, ttl):
            return True
        current: bytes | None = await self._call("get", key)
        if current is None or not self._dead_here(current.decode(errors="replace")):
            return False
        return bool(await self._call("eval", _TAKE_OVER, 1, key, current, self.owner, ttl))

    def _dead_here(self, owner: str) -> bool:
        host, _, rest = owner.partition("|")
        pid, _, _ = rest.partition("|")
        return (host == self.host and pid.isdigit() and int(pid) != os.getpid()
                and not is_running(int(pid)))

    async def disown(self, name: str) -> None:
        await self._call("eval", _RELEASE, 1, keys.code_owner_key(name), self.owner)

    async def record_server(self, record: CodeServerRecord) -> None:
        await self._call("hset", keys.CODE_SERVERS,
                         keys.code_server_field(record.host, record.pid), _encode(record))

    async def forget_server(self, record: CodeServerRecord) -> None:
        await self._call("hdel", keys.CODE_SERVERS, keys.code_server_field(record.host,
                                                                            record.pid))

    async def servers(self, host: str) -> list[CodeServerRecord]:
        """The code servers recorded on ``host``."""
        raw: dict[bytes, bytes] = await self._call("hgetall", keys.CODE_SERVERS)
        records = [_record_decoder.decode(value) for value in raw.values()]
        return [record for record in records if record.host == host]

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self.redis, method)(*args)
        except RedisError as exc:
            raise _unavailable(exc) from exc


async def undesire_deployment(redis: aioredis.Redis, deployment: str) -> list[str]:
    """Forget every desired location of ``deployment`` (its token was revoked: no work item
    will ever remove them); the served locations forgotten. The supervisors that own them
    stop their code servers as for a removed location."""
    try:
        raw: dict[Any, Any] = await redis.hgetall(keys.CODE_DESIRED)
        names = [name.decode() for name, value in raw.items()
                 if (_desired_decoder.decode(value).deployment or DEFAULT_DEPLOYMENT)
                 == deployment]
        if names:
            await redis.hdel(keys.CODE_DESIRED, *names)
    except RedisError as exc:
        raise _unavailable(exc) from exc
    return sorted(names)


def served(desired: DesiredLocation) -> str:
    """The served location ``desired`` is of: its deployment's location."""
    return keys.served_location(desired.deployment, desired.spec.name)


def _unavailable(exc: RedisError) -> BrokerUnavailable:
    return BrokerUnavailable(f"cannot reach the broker for the code servers' state: {exc}")
