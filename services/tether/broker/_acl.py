"""Restricted broker users: what user code can do with the agent's Redis.

User code runs in run workers (and, with the ``rq`` backend, inside RQ workers), and it can
reach whatever their broker connection can. So they do not get the agent's own connection but
an ACL user of their own, which the launcher creates (``ACL SETUSER``, idempotently, on start
and again whenever the server lost it) and names in the URL it hands them.

The run workers' user, on Redis >= 7 and Valkey, can

    +ping +hello +select +client|setinfo        set up a connection (no key)
    (+xadd  %W~tether:out:events                append to the outbound streams, write-only:
            %W~tether:out:logs                   no XREAD, XRANGE, XLEN, nor any other stream
            %W~tether:out:spans)
    (+set   %W~tether:executing:*)              claim its own run attempt once (SET NX EX)
    (+exists %R~tether:canceled:*               tell a cancel from an agent stopping,
             %R~tether:slot:*)                   and whether a step's pool slot is granted

and nothing else: no command reads a key's value (the work streams, ``tether:out:*``, the
guards), no KEYS or SCAN, no write to ``tether:out:results`` (the agent's own replies) or to
any other key. Each selector pairs a command with its keys, so SET cannot overwrite a stream.

The RQ workers' user (for ``tether agent rq-worker``, whose work horses run user code) can do
what RQ does, on RQ's keys and channels only (``~rq:* &rq:*``, every command but the
dangerous ones, SCAN and RANDOMKEY: RQ's command set changes between its versions, its keys do
not), plus the work horse's bookkeeping: read ``tether:canceled:*``, set and delete
``tether:rq:alive:*``, append to ``tether:out:results`` and HDEL ``tether:rq:jobs``. It reads
no work stream and no outbound stream; it can read every RQ job (launches, with their
locations' env) and reach every RQ worker, which is what RQ is.

On Valkey >= 9 each user is also held to the agent's database (``db=<n>``); elsewhere ACLs
know no databases, so agents sharing one server can write to each other's streams. On Redis 6
(no selectors, no ``%R``/``%W``) the same commands get plain ``~`` patterns: no run worker
command reads a key, but SET could overwrite an outbound stream; the launcher warns.

Passwords are random, one per user, kept in the agent's database (``tether:acl:*``, which no
restricted user can read), so every launcher copy of an agent, on any host, hands out the same
URLs. ACL users live on the server, not in its data: a restarted broker has lost them, and
:func:`keep_user` puts them back within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from ..errors import BrokerUnavailable, TetherError
from . import _keys as keys

log = logging.getLogger(__name__)

# redis-py's connection set-up: PING for health checks, HELLO for RESP3, SELECT for a
# database in the URL, CLIENT SETINFO for its name (whose refusal it ignores)
CONNECTION_COMMANDS = ("+ping", "+hello", "+select")


class BrokerUserError(TetherError):
    """The launcher could not create a restricted broker user: the server has no ACLs
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

    @property
    def version(self) -> str:
        return ".".join(map(str, self.redis_version))


# (commands, [(access, key pattern)]) that go together: access is "R", "W" or "" (both)
Grant = tuple[str, list[tuple[str, str]]]


def _rules(server: BrokerServer, db: int, *, root: list[str], grants: list[Grant]) -> list[str]:
    """``ACL SETUSER`` rules: connection set-up, ``root`` rules, and each grant as a selector
    (on Redis 6, merged into plain patterns)."""
    rules = ["reset", "on", *CONNECTION_COMMANDS, *root]
    if server.setinfo:
        rules.append("+client|setinfo")
    if not server.selectors:
        for commands, patterns in grants:
            rules += commands.split()
            rules += [f"~{pattern}" for _, pattern in patterns]
        return rules
    # each selector has its own databases: all get the agent's
    dbs = ["resetdbs", f"db={db}"] if server.databases else []
    rules += dbs
    for commands, patterns in grants:
        keyed = [f"%{access}~{pattern}" if access else f"~{pattern}"
                 for access, pattern in patterns]
        rules.append("(" + " ".join([*commands.split(), *keyed, *dbs]) + ")")
    return rules


def run_worker_rules(server: BrokerServer, db: int) -> list[str]:
    """The rules (after the name, without a password) of the run workers' user."""
    streams = (keys.OUT_EVENTS, keys.OUT_LOGS, keys.OUT_SPANS)
    return _rules(server, db, root=[], grants=[
        ("+xadd", [("W", stream) for stream in streams]),
        ("+set", [("W", keys.EXECUTING_KEYS)]),
        # an interrupted step asks whether the launcher canceled the attempt (a cancel) or
        # not (an agent stopping), and a pooled step whether the control plane granted it a
        # slot (the launcher sets the key): EXISTS says yes or no, and reads no value
        ("+exists", [("R", keys.CANCELED_KEYS), ("R", keys.SLOT_KEYS)]),
    ])


def rq_worker_rules(server: BrokerServer, db: int) -> list[str]:
    """The rules of the RQ workers' user: RQ's keys and channels, and the work horse's
    bookkeeping (:mod:`tether.runworker._rq`)."""
    channels = [f"&{keys.RQ_KEYS}"] if server.redis_version >= (6, 2) else []
    return _rules(server, db, root=[
        f"~{keys.RQ_KEYS}", *channels, "+@all", "-@dangerous", "+info", "-scan", "-randomkey",
    ], grants=[
        ("+exists", [("R", keys.CANCELED_KEYS)]),
        ("+set +del", [("W", keys.RQ_ALIVE_KEYS)]),
        ("+xadd", [("W", keys.OUT_RESULTS)]),
        ("+hdel", [("W", keys.RQ_JOBS)]),
    ])


@dataclass(frozen=True)
class Profile:
    """One restricted user: whom it is for, its name after the configured base name, where
    its password is kept, its rules."""

    who: str
    suffix: str
    password_key: str
    rules: Callable[[BrokerServer, int], list[str]]


RUN_WORKER = Profile("run workers", "", keys.ACL_RUN_WORKER_PASSWORD, run_worker_rules)
RQ_WORKER = Profile("RQ workers", "-rq", keys.ACL_RQ_WORKER_PASSWORD, rq_worker_rules)


async def probe(redis: aioredis.Redis) -> BrokerServer:
    try:
        info = await redis.info("server")
    except RedisError as exc:
        raise BrokerUnavailable(f"cannot read the broker's version: {exc}") from exc
    return BrokerServer(redis_version=_version(info.get("redis_version")),
                        valkey_version=(_version(info["valkey_version"])
                                        if "valkey_version" in info else None))


def user_name(base: str, db: int, profile: Profile = RUN_WORKER) -> str:
    """The ACL user of ``profile`` for the agent on database ``db``: users belong to the
    server, and agents on its other databases have their own."""
    name = base + profile.suffix
    return name if db == 0 else f"{name}-db{db}"


async def ensure_user(redis: aioredis.Redis, *, url: str, base_name: str,
                      profile: Profile = RUN_WORKER) -> str:
    """Create (or bring up to date) the restricted user of ``profile`` on the agent's broker;
    returns the broker URL to hand them: ``url`` with that user and its password.

    ``redis`` is the agent's own connection, whose user must be allowed ``ACL SETUSER``."""
    db = _db(redis)
    server = await probe(redis)
    if not server.acl:
        raise BrokerUserError(
            f"the broker is Redis {server.version}, which has no ACLs, so {profile.who} "
            "cannot get a restricted broker user: use Redis >= 6 or Valkey, or set "
            "TETHER_BROKER_RUN_WORKER_USER='' to give them the agent's own broker URL (user "
            "code can then read the work streams)")
    name = user_name(base_name, db, profile)
    try:
        await redis.set(profile.password_key, secrets.token_urlsafe(32), nx=True)
        stored = await redis.get(profile.password_key)
        password = stored.decode() if isinstance(stored, bytes) else str(stored)
        # redis-py's acl_setuser knows no selectors
        await redis.execute_command(  # type: ignore[no-untyped-call]
            "ACL", "SETUSER", name, *profile.rules(server, db), f">{password}")
    except ResponseError as exc:
        raise BrokerUserError(
            f"cannot create the {profile.who}' broker user {name}: {exc}. Allow the agent's "
            "broker user ACL SETUSER (e.g. +acl), or set TETHER_BROKER_RUN_WORKER_USER='' to "
            "give them the agent's own broker URL (user code can then read the work "
            "streams)") from exc
    except RedisError as exc:
        raise BrokerUnavailable(f"cannot create the {profile.who}' broker user: {exc}") from exc
    if not server.selectors:
        log.warning("the broker is Redis %s, without ACL selectors: the %s' user %s gets each "
                    "command it needs on all of its keys (SET could overwrite an outbound "
                    "stream); Redis >= 7 or Valkey keeps them apart", server.version,
                    profile.who, name)
    return with_credentials(url, name, password)


@contextlib.asynccontextmanager
async def restricted_users(redis: aioredis.Redis, *, url: str, base_name: str,
                           profiles: tuple[Profile, ...] = (RUN_WORKER,),
                           ) -> AsyncIterator[list[str]]:
    """The broker URLs to hand out, one per profile, for as long as the context lasts: their
    restricted users' (kept on the server meanwhile), or with an empty ``base_name`` the
    agent's own ``url`` (said loudly, since user code then has the agent's access)."""
    if not base_name:
        log.warning("TETHER_BROKER_RUN_WORKER_USER is empty: run workers get the agent's own "
                    "broker URL, so user code can read the work streams and write any key")
        yield [url for _ in profiles]
        return
    urls = [await ensure_user(redis, url=url, base_name=base_name, profile=profile)
            for profile in profiles]
    stop = asyncio.Event()
    keeping = [asyncio.ensure_future(keep_user(redis, url=url, base_name=base_name,
                                               profile=profile, stop=stop))
               for profile in profiles]
    try:
        yield urls
    finally:
        stop.set()
        await asyncio.gather(*keeping)


async def keep_user(redis: aioredis.Redis, *, url: str, base_name: str, stop: asyncio.Event,
                    profile: Profile = RUN_WORKER, interval: float = 5.0) -> None:
    """Put the user of ``profile`` back whenever the broker has lost it (a restart), every
    ``interval`` seconds until ``stop`` is set."""
    name = user_name(base_name, _db(redis), profile)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if stop.is_set():
            return
        try:
            if await redis.acl_getuser(name) is None:
                log.warning("the broker lost the %s' user %s (restarted?); creating it again",
                            profile.who, name)
                await ensure_user(redis, url=url, base_name=base_name, profile=profile)
        except (RedisError, BrokerUnavailable, BrokerUserError) as exc:
            log.warning("cannot check the %s' broker user %s: %s", profile.who, name, exc)


def with_credentials(url: str, username: str, password: str) -> str:
    """``url`` with its user and password replaced."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _db(redis: aioredis.Redis) -> int:
    return int(redis.connection_pool.connection_kwargs.get("db") or 0)


def _version(text: object) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", str(text or ""))
    return (int(found[1]), int(found[2])) if found else (0, 0)
