"""The broker user of run workers: what user code can do with the agent's Redis.

A run worker executes user code, and the code can reach whatever its broker connection can. So
run workers do not get the agent's own connection but a restricted ACL user, which the launcher
creates (``ACL SETUSER``, idempotently, on start and again whenever the server lost it) and
names in the URL it hands them. On Redis >= 7 and Valkey the user can

    +ping +hello +select +client|setinfo        set up a connection (no key)
    (+xadd  %W~tether:out:events                append to the outbound streams, write-only:
            %W~tether:out:logs                   no XREAD, XRANGE, XLEN, nor any other stream
            %W~tether:out:spans)
    (+set   %W~tether:executing:*)              claim its own run attempt once (SET NX EX)

and nothing else: no command reads a key (the work streams, ``tether:out:*``, the guards), no
KEYS or SCAN, no write to ``tether:out:results`` (the agent's own replies) or to any other key.
Each selector pairs a command with its keys, so SET cannot overwrite a stream. On Valkey >= 9
both are also limited to the agent's database (``db=<n>``); elsewhere ACLs know no databases,
so agents that share one server can append to each other's outbound streams.

On Redis 6 (no selectors, no ``%W``) the same commands get plain ``~`` patterns: still no
command that reads a key, but SET could overwrite an outbound stream. The launcher says so
in its log at start.

The password is random, kept in the agent's database under ``tether:acl:run-worker`` (which
the restricted user cannot read), so every launcher copy of an agent, on any host, hands out
the same one. ACL users live on the server, not in its data: a restarted broker has lost them,
and :func:`keep_run_worker_user` puts the user back within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from ..errors import BrokerUnavailable, TetherError
from . import _keys as keys

log = logging.getLogger(__name__)

# the run worker writes these streams, and only these
RUN_WORKER_STREAMS = (keys.OUT_EVENTS, keys.OUT_LOGS, keys.OUT_SPANS)
# redis-py's connection set-up: PING for health checks, HELLO for RESP3, SELECT for a
# database in the URL, CLIENT SETINFO for its name (whose refusal it ignores)
CONNECTION_COMMANDS = ("ping", "hello", "select")


class RunWorkerUserError(TetherError):
    """The launcher could not create the run workers' broker user: the server has no ACLs
    (Redis < 6), or the agent's own broker user may not run ``ACL SETUSER``."""


@dataclass(frozen=True)
class BrokerServer:
    """What a broker server can restrict, from its version."""

    redis_version: tuple[int, int]
    valkey_version: tuple[int, int] | None = None

    @property
    def acl(self) -> bool:
        return self.redis_version >= (6, 0)

    @property
    def selectors(self) -> bool:
        """Selectors ``(...)`` and read/write key patterns ``%R~``/``%W~`` (Redis 7)."""
        return self.redis_version >= (7, 0)

    @property
    def setinfo(self) -> bool:
        return self.redis_version >= (7, 2)

    @property
    def databases(self) -> bool:
        """Per-user databases (``db=<n>``, Valkey 9)."""
        return self.valkey_version is not None and self.valkey_version >= (9, 0)


def run_worker_rules(server: BrokerServer, db: int) -> list[str]:
    """The ``ACL SETUSER`` rules (after the name) of the run workers' user, without a
    password: everything it may do, for a broker like ``server`` and the agent's ``db``."""
    streams, guard = RUN_WORKER_STREAMS, keys.EXECUTING_KEYS
    connection = [f"+{command}" for command in CONNECTION_COMMANDS]
    if server.setinfo:
        connection.append("+client|setinfo")
    rules = ["reset", "on", *connection]
    if not server.selectors:
        return [*rules, "+xadd", "+set", *(f"~{s}" for s in streams), f"~{guard}"]
    # a selector has its own databases: each gets the agent's
    dbs = f" resetdbs db={db}" if server.databases else ""
    if server.databases:
        rules += ["resetdbs", f"db={db}"]
    write_streams = " ".join(f"%W~{s}" for s in streams)
    return [*rules, f"(+xadd {write_streams}{dbs})", f"(+set %W~{guard}{dbs})"]


async def probe(redis: aioredis.Redis) -> BrokerServer:
    try:
        info = await redis.info("server")
    except RedisError as exc:
        raise BrokerUnavailable(f"cannot read the broker's version: {exc}") from exc
    return BrokerServer(redis_version=_version(info.get("redis_version")),
                        valkey_version=(_version(info["valkey_version"])
                                        if "valkey_version" in info else None))


def user_name(base: str, db: int) -> str:
    """The ACL user of the run workers of the agent on database ``db``: users belong to the
    server, and agents on other databases of it have their own."""
    return base if db == 0 else f"{base}-db{db}"


async def ensure_run_worker_user(redis: aioredis.Redis, *, url: str, base_name: str) -> str:
    """Create (or bring up to date) the run workers' ACL user on the agent's broker; returns
    the broker URL for run workers: ``url`` with that user and its password.

    ``redis`` is the agent's own connection, whose user must be allowed ``ACL SETUSER``."""
    db = int(redis.connection_pool.connection_kwargs.get("db") or 0)
    server = await probe(redis)
    if not server.acl:
        raise RunWorkerUserError(
            f"the broker is Redis {'.'.join(map(str, server.redis_version))}, which has no "
            "ACLs, so run workers cannot get a restricted broker user: use Redis >= 6 or "
            "Valkey, or set TETHER_BROKER_RUN_WORKER_USER='' to give run workers the agent's "
            "own broker connection (user code can then read the work streams)")
    name = user_name(base_name, db)
    try:
        await redis.set(keys.ACL_RUN_WORKER_PASSWORD, secrets.token_urlsafe(32), nx=True)
        stored = await redis.get(keys.ACL_RUN_WORKER_PASSWORD)
        password = stored.decode() if isinstance(stored, bytes) else str(stored)
        # redis-py's acl_setuser knows no selectors
        await redis.execute_command(  # type: ignore[no-untyped-call]
            "ACL", "SETUSER", name, *run_worker_rules(server, db), f">{password}")
    except ResponseError as exc:
        raise RunWorkerUserError(
            f"cannot create the run workers' broker user {name}: {exc}. Allow the agent's "
            "broker user ACL SETUSER (e.g. +acl), or set TETHER_BROKER_RUN_WORKER_USER='' to "
            "give run workers the agent's own broker connection (user code can then read "
            "the work streams)") from exc
    except RedisError as exc:
        raise BrokerUnavailable(f"cannot create the run workers' broker user: {exc}") from exc
    if not server.selectors:
        log.warning("the broker is Redis %s, without ACL selectors: run workers' user %s may "
                    "run only XADD and SET, but on any outbound stream or attempt guard (SET "
                    "could overwrite a stream); Redis >= 7 or Valkey separates them",
                    ".".join(map(str, server.redis_version)), name)
    return with_credentials(url, name, password)


@contextlib.asynccontextmanager
async def run_worker_user(redis: aioredis.Redis, *, url: str,
                          base_name: str) -> AsyncIterator[str]:
    """The broker URL to hand run workers, for as long as the context lasts: their
    restricted user's (kept on the server meanwhile), or with an empty ``base_name`` the
    agent's own ``url`` (said loudly, since user code then has the agent's access)."""
    if not base_name:
        log.warning("TETHER_BROKER_RUN_WORKER_USER is empty: run workers get the agent's own "
                    "broker URL, so user code can read the work streams and write any key")
        yield url
        return
    worker_url = await ensure_run_worker_user(redis, url=url, base_name=base_name)
    stop = asyncio.Event()
    keeping = asyncio.ensure_future(
        keep_run_worker_user(redis, url=url, base_name=base_name, stop=stop))
    try:
        yield worker_url
    finally:
        stop.set()
        await keeping


async def keep_run_worker_user(redis: aioredis.Redis, *, url: str, base_name: str,
                               stop: asyncio.Event, interval: float = 5.0) -> None:
    """Put the run workers' user back whenever the broker has lost it (a restart), every
    ``interval`` seconds until ``stop`` is set."""
    name = user_name(base_name, int(redis.connection_pool.connection_kwargs.get("db") or 0))
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if stop.is_set():
            return
        try:
            if await redis.acl_getuser(name) is None:
                log.warning("the broker lost the run workers' user %s (restarted?); "
                            "creating it again", name)
                await ensure_run_worker_user(redis, url=url, base_name=base_name)
        except (RedisError, BrokerUnavailable, RunWorkerUserError) as exc:
            log.warning("cannot check the run workers' broker user %s: %s", name, exc)


def with_credentials(url: str, username: str, password: str) -> str:
    """``url`` with its user and password replaced."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _version(text: object) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", str(text or ""))
    return (int(found[1]), int(found[2])) if found else (0, 0)
