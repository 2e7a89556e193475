"""A real code server process, queried through the client the agent's supervisor uses."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tether.codeserver import CodeServerClient, PingInfo, load_location
from tether.errors import CodeLocationLoadError, CodeServerError
from tether.sdk import load_definitions, snapshot_definitions
from tether.wire import ErrorInfo, LocationSnapshot, LocationSpec

from ..outputs_location import write_outputs_location

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "hello"

# the lead's CLI (`tether code-server serve`) is not what is under test here
SERVE = """
import sys, msgspec
from tether.codeserver import serve
from tether.wire import LocationSpec
serve(msgspec.json.decode(sys.argv[1], type=LocationSpec), port=int(sys.argv[2]))
"""


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    address: str

    def stop(self, timeout: float = 5.0) -> tuple[int, str]:
        """SIGTERM, then the exit code and everything the server wrote to stderr."""
        self.process.terminate()
        _, stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode, stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def start_server() -> Iterator[Callable[[LocationSpec], RunningServer]]:
    started: list[RunningServer] = []

    def start(spec: LocationSpec) -> RunningServer:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, msgspec.json.encode(spec).decode(), str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        server = RunningServer(process, f"127.0.0.1:{port}")
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate()


@pytest.fixture
def hello_spec() -> LocationSpec:
    return LocationSpec(name="hello", module="hello.defs", working_directory=str(HELLO))


StartServer = Callable[[LocationSpec], RunningServer]


async def ping_and_snapshot(address: str) -> tuple[PingInfo, LocationSnapshot]:
    async with CodeServerClient(address) as client:
        info = await client.wait_until_ready(timeout=20)
        return info, await client.get_snapshot(timeout=5)


def test_serves_the_example_location(start_server: StartServer, hello_spec: LocationSpec) -> None:
    server = start_server(hello_spec)
    info, snapshot = asyncio.run(ping_and_snapshot(server.address))
    assert info == PingInfo(pid=server.process.pid, location="hello", load_error=False)
    assert snapshot.location == "hello"
    hello_job = snapshot.job("hello_job")
    assert hello_job is not None
    assert [(n.name, [i.from_node for i in n.inputs]) for n in hello_job.nodes] == [
        ("extract", []),
        ("transform", ["extract"]),
        ("load", ["transform"]),
    ]
    assert {a.key for a in snapshot.assets} == {"raw_numbers", "even_numbers", "report"}

    started = time.monotonic()
    code, stderr = server.stop()
    assert code in (0, -15)
    assert time.monotonic() - started < 5
    assert (
        f"code server for location hello listening on {server.address} "
        f"(pid {server.process.pid})" in stderr
    )


WAREHOUSE = """
from tether import AssetKey, AssetSpec, Definitions, asset, multi_asset

@asset(group_name="ingest", kinds={"python"}, deps=["s3/landing"])
def raw() -> list[int]:
    return [1, 2]

@asset(key=AssetKey(["warehouse", "orders"]), group_name="warehouse", owners=["team:data"],
       tags={"tier": "gold"}, code_version="v2")
def orders(raw: list[int]) -> int:
    return sum(raw)

@multi_asset(specs=[AssetSpec("low"), AssetSpec("high")])
def bounds(raw: list[int]) -> tuple[int, int]:
    return min(raw), max(raw)

defs = Definitions(assets=[AssetSpec("s3/landing"), raw, orders, bounds])
"""


def test_serves_asset_keys_groups_and_catalog_attributes(
    start_server: StartServer, tmp_path: Path
) -> None:
    (tmp_path / "warehouse_defs.py").write_text(WAREHOUSE)
    server = start_server(LocationSpec(name="warehouse",
                                       python_file=str(tmp_path / "warehouse_defs.py")))
    _, snapshot = asyncio.run(ping_and_snapshot(server.address))
    assets = {asset.key: asset for asset in snapshot.assets}
    assert set(assets) == {"s3/landing", "raw", "warehouse/orders", "low", "high"}
    assert assets["s3/landing"].external and assets["raw"].deps == ["s3/landing"]
    assert (assets["low"].computed_by, assets["low"].deps) == ("bounds", ["raw"])
    orders = assets["warehouse/orders"]
    assert (orders.key_path, orders.deps, orders.group_name) == (
        ["warehouse", "orders"], ["raw"], "warehouse")
    assert (orders.owners, orders.tags, orders.code_version) == (["team:data"], {"tier": "gold"},
                                                                 "v2")
    assert (assets["raw"].group_name, assets["raw"].kinds) == ("ingest", ["python"])
    server.stop()


def test_serves_named_outputs_ordering_only_inputs_and_graph_steps(
    start_server: StartServer, tmp_path: Path
) -> None:
    defs, _ = write_outputs_location(tmp_path)
    server = start_server(LocationSpec(name="outputs", python_file=str(defs)))
    _, snapshot = asyncio.run(ping_and_snapshot(server.address))
    nodes = {node.name: node for node in snapshot.jobs[0].nodes}
    assert list(nodes) == ["split", "check", "alert", "outer.inner.double",
                           "outer.inner_2.double", "prepare", "report"]
    assert [(o.name, o.type_name, o.is_required) for o in nodes["check"].outputs] == [
        ("total", "int", True), ("warning", "str", False)]
    assert [(i.name, i.from_node, i.from_output, i.nothing)
            for i in nodes["report"].inputs] == [
        ("odds", "split", "odds", False), ("total", "outer.inner_2.double", "result", False),
        ("ready", "prepare", "result", True)]
    assert [(i.from_node, i.from_output) for i in nodes["alert"].inputs] == [
        ("check", "warning")]
    server.stop()


def test_serves_a_snapshot_larger_than_grpcs_default_message_limit(
    start_server: StartServer, tmp_path: Path
) -> None:
    # 2,000 assets with a 3 kB description each: a ~6 MB snapshot
    (tmp_path / "big_defs.py").write_text(
        "from tether import Definitions, asset\n"
        "defs = Definitions(assets=[asset(name=f'a{i}', description='x' * 3000)(lambda: None)"
        " for i in range(2000)])\n")
    server = start_server(LocationSpec(name="big", python_file=str(tmp_path / "big_defs.py")))
    _, snapshot = asyncio.run(ping_and_snapshot(server.address))
    assert len(snapshot.assets) == 2000 and len(msgspec.msgpack.encode(snapshot)) > 4 * 2**20
    server.stop()


def test_serves_the_load_error_of_a_broken_location(
    start_server: StartServer, tmp_path: Path
) -> None:
    (tmp_path / "broken_defs.py").write_text("from tether import op\n\n@op\ndef oops(:\n")
    server = start_server(LocationSpec(name="broken", python_file=str(tmp_path / "broken_defs.py")))

    async def query() -> tuple[PingInfo, CodeLocationLoadError]:
        async with CodeServerClient(server.address) as client:
            info = await client.wait_until_ready(timeout=20)
            with pytest.raises(CodeLocationLoadError) as caught:
                await client.get_snapshot(timeout=5)
            return info, caught.value

    info, error = asyncio.run(query())
    assert info.load_error and info.location == "broken"
    assert "code location 'broken'" in str(error) and "SyntaxError" in str(error)
    assert "broken_defs.py" in error.user_traceback
    assert "def oops(:" in error.user_traceback
    code, _ = server.stop()
    assert code in (0, -15)


def test_unreachable_server_is_a_code_server_error() -> None:
    async def query() -> None:
        async with CodeServerClient(f"127.0.0.1:{free_port()}") as client:
            await client.ping(timeout=2)

    with pytest.raises(CodeServerError, match="Ping failed"):
        asyncio.run(query())


def test_wait_until_ready_gives_up_after_its_timeout() -> None:
    async def query() -> None:
        async with CodeServerClient(f"127.0.0.1:{free_port()}") as client:
            await client.wait_until_ready(timeout=0.5)

    started = time.monotonic()
    with pytest.raises(CodeServerError, match="deadline"):
        asyncio.run(query())
    assert time.monotonic() - started < 3


def test_load_location_encodes_the_snapshot_or_the_error(
    hello_spec: LocationSpec, tmp_path: Path
) -> None:
    loaded = load_location(hello_spec)
    assert loaded.error is None and loaded.snapshot is not None
    expected = snapshot_definitions(load_definitions(hello_spec), "hello")
    assert msgspec.msgpack.decode(loaded.snapshot, type=LocationSnapshot) == expected

    (tmp_path / "raises_at_import.py").write_text("raise RuntimeError('no database')\n")
    failed = load_location(
        LocationSpec(name="x", python_file=str(tmp_path / "raises_at_import.py"))
    )
    assert failed.snapshot is None and failed.error is not None
    error = msgspec.msgpack.decode(failed.error, type=ErrorInfo)
    assert error.class_name == "RuntimeError"
    assert 'raises_at_import.py", line 1, in <module>' in error.stack


TICKING = '''
from tether import Definitions, RunRequest, SkipReason, job, op, schedule, sensor


@op
def work() -> None:
    pass


@job
def daily_job() -> None:
    work()


@schedule(cron="0 6 * * *", job=daily_job, timezone="America/New_York")
def mornings(context):
    if context.scheduled_time.hour != 6:
        return SkipReason(f"not 06:00 in New York: {context.scheduled_time.isoformat()}")
    return RunRequest(run_key=context.scheduled_time.date().isoformat())


@sensor(job=daily_job)
def counter(context):
    count = int(context.cursor or 0) + 1
    context.update_cursor(str(count))
    if count == 2:
        raise ValueError("the second tick fails")
    return RunRequest(run_key=f"n{count}")


defs = Definitions(jobs=[daily_job], schedules=[mornings], sensors=[counter])
'''


def test_evaluates_schedule_and_sensor_ticks_in_the_users_code(
        start_server: StartServer, tmp_path: Path) -> None:
    from tether.wire import EvaluateTick

    (tmp_path / "ticking_defs.py").write_text(TICKING)
    spec = LocationSpec(name="ticking", python_file=str(tmp_path / "ticking_defs.py"))
    server = start_server(spec)
    # 2026-11-30 06:00 in New York is 11:00 UTC
    six_am = 1_796_036_400.0

    async def ticks() -> list[Any]:
        async with CodeServerClient(server.address) as client:
            await client.wait_until_ready(timeout=20)
            outcomes = [await client.evaluate_tick(EvaluateTick(
                tick_id=1, kind="schedule", name="mornings", location=spec,
                scheduled_time=six_am), timeout=10)]
            cursor = None
            for tick_id in (2, 3):
                outcome = await client.evaluate_tick(EvaluateTick(
                    tick_id=tick_id, kind="sensor", name="counter", location=spec,
                    cursor=cursor), timeout=10)
                outcomes.append(outcome)
                cursor = outcome.cursor
            outcomes.append(await client.evaluate_tick(EvaluateTick(
                tick_id=4, kind="sensor", name="nope", location=spec), timeout=10))
            # many ticks in one call: each answered in its place
            outcomes.append(await client.evaluate_ticks([
                EvaluateTick(tick_id=5, kind="sensor", name="nope", location=spec),
                EvaluateTick(tick_id=6, kind="schedule", name="mornings", location=spec,
                             scheduled_time=six_am + 86_400)], timeout=10))
            return outcomes

    schedule_tick, first, second, unknown, batch = asyncio.run(ticks())
    assert batch[0].error is not None and "no sensor named 'nope'" in batch[0].error.message
    assert [r.run_key for r in batch[1].run_requests] == ["2026-12-01"]
    assert [(r.job_name, r.run_key) for r in schedule_tick.run_requests] == [
        ("daily_job", "2026-11-30")]
    assert [r.run_key for r in first.run_requests] == ["n1"] and first.cursor == "1"
    assert second.error is not None and second.error.message == "the second tick fails"
    assert "ticking_defs.py" in second.error.stack and second.cursor == "1"
    assert unknown.error is not None and "no sensor named 'nope'" in unknown.error.message
    code, _ = server.stop()
    assert code in (0, -15)
