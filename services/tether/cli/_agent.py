"""``tether agent <worker>``: each agent worker is its own process."""

from __future__ import annotations

import argparse
import os
import socket
from typing import TYPE_CHECKING, Any

from ..settings import Settings, load_settings

if TYPE_CHECKING:
    import asyncio

WORKERS = ("poller", "launcher", "supervisor", "uploader")


def register(commands: Any) -> None:
    agent = commands.add_parser("agent", help="run one agent worker")
    workers = agent.add_subparsers(dest="worker", required=True, metavar="WORKER")
    for name in WORKERS:
        parser = workers.add_parser(name, help=f"run the {name}")
        parser.add_argument("--burst", action="store_true",
                            help="exit once the worker's streams are drained")
        parser.set_defaults(handler=_run_worker)


def _run_worker(args: argparse.Namespace) -> int:
    from .._logging import configure_logging
    from ..agent._worker import run_until_stopped

    settings = load_settings()
    configure_logging(settings.log_level, args.worker)
    agent_id = settings.agent_id or socket.gethostname()
    consumer = f"{agent_id}-{args.worker}-{os.getpid()}"

    async def main(stop: asyncio.Event) -> None:
        await _WORKER_MAINS[args.worker](settings, agent_id, consumer, stop, args.burst)

    run_until_stopped(main)
    return 0


async def _poller(settings: Settings, agent_id: str, consumer: str, stop: asyncio.Event,
                  burst: bool) -> None:
    from ..agent import ControlPlaneClient, Poller
    from ..broker import connect

    redis = await connect(settings.require("redis_url"))
    client = ControlPlaneClient(url=settings.url, token=settings.require("agent_token"))
    try:
        await Poller(client=client, redis=redis, agent_id=agent_id,
                     queues=settings.queues).run(stop)
    finally:
        await client.aclose()
        await redis.aclose()


async def _launcher(settings: Settings, agent_id: str, consumer: str, stop: asyncio.Event,
                    burst: bool) -> None:
    from ..agent import Launcher
    from ..broker import connect

    redis_url = settings.require("redis_url")
    redis = await connect(redis_url)
    try:
        await Launcher(redis=redis, redis_url=redis_url, agent_id=agent_id, consumer=consumer,
                       base_env=dict(os.environ),
                       stop_runs_on_exit=settings.stop_runs_on_exit).run(stop, burst=burst)
    finally:
        await redis.aclose()


async def _supervisor(settings: Settings, agent_id: str, consumer: str, stop: asyncio.Event,
                      burst: bool) -> None:
    from ..agent import Supervisor
    from ..broker import connect

    redis = await connect(settings.require("redis_url"))
    try:
        await Supervisor(redis=redis, consumer=consumer, base_env=dict(os.environ),
                         start_timeout=settings.code_server_start_timeout).run(stop, burst=burst)
    finally:
        await redis.aclose()


async def _uploader(settings: Settings, agent_id: str, consumer: str, stop: asyncio.Event,
                    burst: bool) -> None:
    from ..agent import ControlPlaneClient, Uploader
    from ..broker import connect

    redis = await connect(settings.require("redis_url"))
    client = ControlPlaneClient(url=settings.url, token=settings.require("agent_token"))
    try:
        await Uploader(client=client, redis=redis, consumer=consumer,
                       batch_size=settings.upload_batch_size,
                       upload_compute_logs=settings.upload_compute_logs).run(stop, burst=burst)
    finally:
        await client.aclose()
        await redis.aclose()


_WORKER_MAINS = {
    "poller": _poller,
    "launcher": _launcher,
    "supervisor": _supervisor,
    "uploader": _uploader,
}
