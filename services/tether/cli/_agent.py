"""``tether agent <worker>``: each agent worker is its own process; and ``tether agent
dead-letters``, to see and replay the stream entries no worker could handle."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..settings import Settings, load_settings

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Iterator

    import redis

    from ..agent._code_servers_kubernetes import KubernetesCodeServers
    from ..agent._kubernetes import KubernetesApi
    from ..agent._processes import RunUser
    from ..agent._targets import LaunchTarget
    from ..broker import StoredLetter

log = logging.getLogger(__name__)

WORKERS = ("poller", "launcher", "supervisor", "uploader")


def register(commands: Any) -> None:
    agent = commands.add_parser("agent", help="run one agent worker, or see its dead letters")
    workers = agent.add_subparsers(dest="worker", required=True, metavar="COMMAND")
    for name in WORKERS:
        parser = workers.add_parser(name, help=f"run the {name}")
        parser.add_argument("--burst", action="store_true",
                            help="exit once the worker's streams are drained")
        parser.set_defaults(handler=_run_worker)
    rq_worker = workers.add_parser(
        "rq-worker", help="run an RQ worker for the runs of this agent's queues (with "
        "run_launcher = \"rq\"; a plain `rq worker tether.runs.<queue>` works too)")
    rq_worker.add_argument("--burst", action="store_true",
                           help="exit once the RQ queues are empty")
    rq_worker.set_defaults(handler=_rq_worker)
    rq_url = workers.add_parser(
        "rq-worker-url", help="create the RQ workers' restricted broker user (run with the "
        "agent's settings) and print the broker URL to give RQ workers as TETHER_REDIS_URL")
    rq_url.set_defaults(handler=_rq_worker_url)
    listing = workers.add_parser("list", help="the agents serving this deployment, from the "
                                 "control plane: liveness, queues, workers, code servers")
    listing.set_defaults(handler=_list_agents)
    _register_dead_letters(workers)


def _rq_worker(args: argparse.Namespace) -> int:
    import redis

    from .._logging import configure_logging
    from ..agent._processes import PASSED_SETTINGS
    from ..agent._rq import RqWorker
    from ..broker import keys

    settings = load_settings()
    configure_logging(settings.log_level, "rq-worker", settings.log_format)
    # the runs it executes get none of the agent's settings, as a launcher's children do
    for name in [n for n in os.environ if n.startswith("TETHER_") and n not in PASSED_SETTINGS]:
        del os.environ[name]
    # but where they store step outputs: this host's path of the shared storage folder
    os.environ["TETHER_STORAGE_DIR"] = settings.resolved_storage_dir
    # imported before RQ forks its work horses, so no run imports Tether itself
    import tether.runworker  # noqa: F401

    connection = redis.Redis.from_url(settings.require("redis_url"))
    queues = [keys.rq_queue(queue) for queue in settings.queues]
    worker = RqWorker(queues, connection=connection, stop_runs=settings.stop_runs_on_exit)
    worker.work(burst=args.burst, with_scheduler=False)
    return 0


def _rq_worker_url(args: argparse.Namespace) -> int:
    settings = load_settings()
    print(rq_worker_broker_url(settings, settings.require("redis_url")))
    return 0


def rq_worker_broker_url(settings: Settings, redis_url: str) -> str:
    """The broker URL for RQ workers: their restricted user's, created on the broker at
    ``redis_url`` (the agent's own URL when TETHER_BROKER_RUN_WORKER_USER is empty)."""
    import asyncio

    from ..broker import RQ_WORKER, connect, ensure_user

    if not settings.broker_run_worker_user:
        return redis_url

    async def create() -> str:
        redis = await connect(redis_url, wait_seconds=5)
        try:
            return await ensure_user(redis, url=redis_url, profile=RQ_WORKER,
                                     base_name=settings.broker_run_worker_user)
        finally:
            await redis.aclose()

    return asyncio.run(create())


def _list_agents(args: argparse.Namespace) -> int:
    from ._fleet import list_agents

    return list_agents(args)


def _register_dead_letters(workers: Any) -> None:
    dead_letters = workers.add_parser(
        "dead-letters", help="list and replay the stream entries no worker could handle")
    actions = dead_letters.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="one line per dead letter, oldest first")
    listing.add_argument("--stream", help="only those from this stream, e.g. tether:out:events")
    listing.add_argument("--limit", type=int, default=100, help="show at most N (default 100)")
    listing.set_defaults(handler=_list_dead_letters)
    replay = actions.add_parser(
        "replay", help="put dead letters back on their stream (as new entries) and delete them")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("letter_id", nargs="?", metavar="ID", help="the id `list` shows")
    which.add_argument("--all", action="store_true", help="every dead letter")
    replay.add_argument("--stream", help="with --all: only those from this stream")
    replay.set_defaults(handler=_replay_dead_letters)


def _list_dead_letters(args: argparse.Namespace) -> int:
    from ..broker import list_dead_letters

    with _broker_client() as client:
        letters, total = list_dead_letters(client, stream=args.stream, limit=args.limit)
    if not letters:
        print("no dead letters" + (f" from {args.stream}" if args.stream else ""))
        return 0
    for stored in letters:
        print(_letter_line(stored))
    if total > len(letters):
        print(f"({len(letters)} of {total} shown; see more with --limit)")
    return 0


def _replay_dead_letters(args: argparse.Namespace) -> int:
    from ..broker import replay_dead_letter, replay_dead_letters

    with _broker_client() as client:
        if args.all:
            replayed = replay_dead_letters(client, stream=args.stream)
        else:
            replayed = [replay_dead_letter(client, args.letter_id)]
    if not replayed:
        print("no dead letters to replay")
    for done in replayed:
        print(f"replayed {done.letter_id} to {done.stream} as {done.new_entry_id}: "
              f"{done.summary}")
    return 0


@contextlib.contextmanager
def _broker_client() -> Iterator[redis.Redis]:
    """The agent's broker (see :func:`tether.cli._target.broker_url`); its connection errors
    become :class:`BrokerUnavailable`, which says where it looked."""
    import redis

    from ..errors import BrokerUnavailable
    from ._target import broker_url

    url = broker_url(load_settings())
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        yield client
    except redis.ConnectionError as exc:
        raise BrokerUnavailable(f"cannot reach the broker at {url}: {exc} (is `tether dev` "
                                "running, and is TETHER_REDIS_URL right?)") from exc
    finally:
        client.close()


def _letter_line(stored: StoredLetter) -> str:
    from ..broker import summarize_dead_letter

    letter = stored.letter
    if letter is None:
        return f"{stored.letter_id}  not a readable dead letter ({stored.size} bytes)"
    when = datetime.fromtimestamp(letter.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    error = " ".join(letter.error.split())
    return (f"{stored.letter_id}  {letter.stream}  consumer={letter.consumer}  "
            f"deliveries={letter.deliveries}  {when}  error: {error}  "
            f"message: {summarize_dead_letter(letter)}")


def _run_worker(args: argparse.Namespace) -> int:
    from .. import _telemetry as telemetry
    from .._hardening import secure_agent_process
    from .._logging import configure_logging
    from ..agent._worker import run_until_stopped

    settings = load_settings()
    configure_logging(settings.log_level, args.worker, settings.log_format)
    # before anything starts a child or a thread: from here on the token is in memory only
    settings = secure_agent_process(settings, os.environ)
    agent_id = settings.agent_id or socket.gethostname()
    consumer = f"{agent_id}-{args.worker}-{os.getpid()}"

    async def main(stop: asyncio.Event) -> None:
        await _WORKER_MAINS[args.worker](settings, agent_id, consumer, stop, args.burst)

    telemetry.configure(f"tether-{args.worker}", agent_id=agent_id)
    try:
        run_until_stopped(main)
    finally:
        telemetry.shutdown()
    return 0


async def _poller(settings: Settings, agent_id: str, consumer: str, stop: asyncio.Event,
                  burst: bool) -> None:
    from .._tls import client_verify
    from ..agent import ControlPlaneClient, Poller
    from ..broker import connect

    # settings first: a mistake in them stops the worker before it connects anywhere
    verify, tokens = client_verify(settings), settings.require_agent_tokens()
    redis = await connect(settings.require("redis_url"))
    clients = [ControlPlaneClient(url=settings.control_plane_url, token=token, verify=verify)
               for token in tokens]
    try:
        await Poller(clients=clients, redis=redis, agent_id=agent_id,
                     queues=settings.queues).run(stop)
    finally:
        for client in clients:
            await client.aclose()
        await redis.aclose()


async def _launcher(settings: Settings, agent_id: str, consumer: str, stop: asyncio.Event,
                    burst: bool) -> None:
    from ..agent import Launcher, WarmPool
    from ..broker import RQ_WORKER, RUN_WORKER, connect, restricted_users

    run_user = _run_user(settings)
    if run_user is not None:
        run_user.prepare_storage(Path(settings.resolved_storage_dir), Path(settings.data_dir))
    redis_url = settings.require("redis_url")
    redis = await connect(redis_url)
    # run workers (and RQ workers) run user code: they get broker users of their own, which
    # can only append their output (and do what RQ does)
    profiles = (RUN_WORKER, RQ_WORKER) if settings.run_launcher == "rq" else (RUN_WORKER,)
    try:
        async with restricted_users(redis, url=redis_url, profiles=profiles,
                                    base_name=settings.broker_run_worker_user) as urls:
            worker_url = urls[0]
            warm = (WarmPool(base_env=dict(os.environ), run_user=run_user)
                    if settings.run_launcher == "warm" else None)
            rq = None
            if settings.run_launcher == "rq":
                from ..agent._rq import RqRuns

                rq = RqRuns(redis_url, worker_url=worker_url)
            kinds = _launch_kinds(settings, redis, agent_id, worker_url)
            await Launcher(redis=redis, redis_url=worker_url, agent_id=agent_id,
                           consumer=consumer, base_env=dict(os.environ), warm=warm, rq=rq,
                           run_user=run_user, storage_dir=settings.resolved_storage_dir,
                           terminate_grace=settings.terminate_grace_seconds,
                           stop_runs_on_exit=settings.stop_runs_on_exit,
                           agent_kind=settings.agent_kind, docker_host=settings.docker_host,
                           kinds=kinds).run(stop, burst=burst)
    finally:
        await redis.aclose()


def _launch_kinds(settings: Settings, redis: Any, agent_id: str,
                  worker_url: str) -> dict[str, LaunchTarget]:
    """The launch targets besides this host's: Kubernetes Jobs when the agent's kind is
    kubernetes, or a Kubernetes API is configured for the locations that choose it."""
    api = _kubernetes_api(settings)
    if api is None:
        return {}
    from ..agent._target_kubernetes import KubernetesTarget

    return {"kubernetes": KubernetesTarget(
        api, redis=redis, agent_id=agent_id, redis_url=worker_url, base_env=dict(os.environ),
        terminate_grace=settings.terminate_grace_seconds,
        default_image=settings.kubernetes_default_image,
        ttl_seconds=settings.kubernetes_job_ttl_seconds)}


def _kubernetes_api(settings: Settings) -> KubernetesApi | None:
    """The Kubernetes API, when the agent's kind is kubernetes or one is configured for the
    locations that choose that kind."""
    if settings.agent_kind != "kubernetes" and not settings.kubernetes_api_url:
        return None
    from ..agent._kubernetes import KubernetesApi

    return KubernetesApi(api_url=settings.kubernetes_api_url,
                         namespace=settings.kubernetes_namespace, owner=settings.kubernetes_owner)


def _code_servers_on_kubernetes(settings: Settings,
                                agent_id: str) -> KubernetesCodeServers | None:
    api = _kubernetes_api(settings)
    if api is None:
        return None
    from ..agent._code_servers_kubernetes import KubernetesCodeServers

    return KubernetesCodeServers(api, agent_id=agent_id, base_env=dict(os.environ),
                                 default_image=settings.kubernetes_default_image)


async def _supervisor(settings: Settings, agent_id: str, consumer: str, stop: asyncio.Event,
                      burst: bool) -> None:
    from .._hardening import make_private_dir
    from ..agent import Supervisor
    from ..broker import connect

    run_user = _run_user(settings)
    make_private_dir(Path(settings.data_dir))
    redis = await connect(settings.require("redis_url"))
    try:
        await Supervisor(redis=redis, consumer=consumer, base_env=dict(os.environ),
                         log_dir=Path(settings.data_dir).resolve() / "code-servers",
                         start_timeout=settings.code_server_start_timeout,
                         stop_servers_on_exit=settings.stop_code_servers_on_exit,
                         run_user=run_user, agent_kind=settings.agent_kind,
                         docker_host=settings.docker_host, agent_id=agent_id,
                         kubernetes=_code_servers_on_kubernetes(settings, agent_id),
                         ).run(stop, burst=burst)
    finally:
        await redis.aclose()


async def _uploader(settings: Settings, agent_id: str, consumer: str, stop: asyncio.Event,
                    burst: bool) -> None:
    from .._telemetry import otlp_traces_target, span_schedule_delay
    from .._tls import client_verify
    from ..agent import ControlPlaneClient, DeploymentClients, Uploader
    from ..broker import connect

    # settings first: a mistake in them stops the worker before it connects anywhere
    verify, tokens = client_verify(settings), settings.require_agent_tokens()
    redis = await connect(settings.require("redis_url"))
    clients = [ControlPlaneClient(url=settings.control_plane_url, token=token, verify=verify)
               for token in tokens]
    try:
        await Uploader(clients=DeploymentClients(clients, redis), redis=redis,
                       consumer=consumer,
                       batch_size=settings.upload_batch_size,
                       event_batch_size=settings.upload_event_batch_size,
                       in_flight=settings.upload_in_flight,
                       upload_compute_logs=settings.upload_compute_logs,
                       spans_to=otlp_traces_target(),
                       spans_linger=span_schedule_delay()).run(stop, burst=burst)
    finally:
        for client in clients:
            await client.aclose()
        await redis.aclose()


def _run_user(settings: Settings) -> RunUser | None:
    from ..agent._processes import RunUser

    if not settings.run_user:
        return None
    run_user = RunUser.lookup(settings.run_user)
    log.info("user code runs as %s (uid %d)", run_user.name, run_user.uid)
    return run_user


_WORKER_MAINS = {
    "poller": _poller,
    "launcher": _launcher,
    "supervisor": _supervisor,
    "uploader": _uploader,
}
