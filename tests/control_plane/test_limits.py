"""The API's limits, in process (httpx's ASGI transport): bodies, GraphQL documents, nested
inputs and rates are refused with a 4xx that names the limit, before anything runs or is
stored. (Timings and memory on a real process: test_limits_process.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tether.control_plane import create_app
from tether.control_plane.storage import Store
from tether.settings import Settings
from tether.wire import (
    AssetMaterialization,
    BatchReceipt,
    EventBatch,
    JsonValue,
    LogBatch,
    LogChunk,
    LogMessage,
    RunStart,
    RunSuccess,
)

from .conftest import load_location
from .test_http import LAUNCH, ControlPlane

pytestmark = pytest.mark.anyio

# the request that grew the control plane to 23 GiB before it died
ALIASES = "{ " + " ".join(f"a{i}: runs(limit: 50) {{ id events {{ message }} }}"
                          for i in range(10_000)) + " }"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


Start = Callable[..., Any]


@pytest.fixture
def control_plane(tmp_path: Path) -> Start:
    """Starts the app with ``Settings(**overrides)``; the hello location is loaded."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[ControlPlane]:
        settings = Settings(data_dir=str(tmp_path), **overrides)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            store = Store.from_url(settings.resolved_database_url)
            load_location(store)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://cp") as http:
                yield ControlPlane(http=http, store=store,
                                   agent_token=store.create_token("agent", name="agent"),
                                   user_token=store.create_token("user", name="ada"))
            store.close()

    return start


@pytest.fixture
async def cp(control_plane: Start) -> AsyncIterator[ControlPlane]:
    async with control_plane() as started:
        yield started


def _error(response: httpx.Response) -> tuple[str, str]:
    [error] = response.json()["errors"]
    return error["extensions"]["code"], error["message"]


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


async def _runs(cp: ControlPlane) -> int:
    return len(cp.store.list_runs(1000))


# -- bodies -------------------------------------------------------------------------------


async def test_a_body_over_its_limit_is_refused_before_it_is_read(cp: ControlPlane) -> None:
    auth = {"authorization": f"Bearer {cp.user_token}"}
    declared = await cp.http.post("/graphql", content=b" " * (1 << 20 | 1), headers=auth)
    assert declared.status_code == 413
    assert "larger than 1048576 bytes" in declared.json()["error"]
    assert "TETHER_MAX_REQUEST_BYTES" in declared.json()["error"]

    read: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        # no Content-Length: counted as it streams, and cut off at the limit
        for _ in range(64):
            read.append(1)
            yield b" " * 65536

    streamed = await cp.http.post("/graphql", content=chunks(), headers=auth)
    assert streamed.status_code == 413
    assert len(read) < 64

    # the sign-in form catches every error of its own to show a page: the 413 still wins
    form = await cp.http.post("/signin", content=chunks(),
                              headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 413 and "TETHER_MAX_REQUEST_BYTES" in form.text


async def test_the_agent_api_takes_larger_bodies_up_to_its_own_limit(control_plane: Start
                                                                     ) -> None:
    async with control_plane(max_agent_request_bytes=4 << 20) as cp:
        run_id = cp.store.launch_run("hello_job")
        chunk = "x" * 60_000

        def batch(count: int) -> LogBatch:
            return LogBatch(chunks=[LogChunk(run_id=run_id, attempt=1, stream="stdout",
                                             seq=seq, data=chunk) for seq in range(1, count)])

        big = await cp.agent("logs", batch(40))  # 2.4 MB: more than the GraphQL limit
        too_big = await cp.agent("logs", batch(80))  # 4.8 MB

        assert big.status_code == 200
        assert too_big.status_code == 413
        assert "TETHER_MAX_AGENT_REQUEST_BYTES" in too_big.json()["error"]
        assert len(cp.store.run_logs(run_id)) == 39


# -- GraphQL documents ----------------------------------------------------------------------


async def test_ten_thousand_aliases_are_refused_before_any_resolver(cp: ControlPlane) -> None:
    response = await cp.graphql(ALIASES)
    assert response.status_code == 400
    code, message = _error(response)
    assert code == "QUERY_TOO_COMPLEX" and "TETHER_GRAPHQL_MAX_TOKENS" in message


async def test_aliases_past_the_limit_run_no_mutation(cp: ControlPlane) -> None:
    launches = " ".join(f'l{i}: launchRun(jobName: "hello_job") {{ id }}' for i in range(51))
    response = await cp.graphql(f"mutation {{ {launches} }}")
    assert response.status_code == 400
    code, message = _error(response)
    assert code == "QUERY_TOO_COMPLEX" and "more than 50 aliases" in message
    assert await _runs(cp) == 0

    fifty = " ".join(f"a{i}: runs(limit: 1) {{ id }}" for i in range(50))
    assert (await cp.graphql(f"{{ {fifty} }}")).status_code == 200


async def test_depth_cost_and_repeats_are_bounded(control_plane: Start) -> None:
    async with control_plane(graphql_max_depth=2) as cp:
        deep = await cp.graphql("{ runs { events { message } } }")
        assert _error(deep)[0] == "QUERY_TOO_COMPLEX" and "more than 2 deep" in _error(deep)[1]
        cycle = await cp.graphql("{ runs { ...A } } fragment A on Run { ...B } "
                                 "fragment B on Run { ...A }")
        assert cycle.status_code == 400 and "spreads itself" in _error(cycle)[1]
        assert (await cp.graphql("{ runs { id } }")).status_code == 200

    async with control_plane() as cp:
        costly = await cp.graphql("{ runs(limit: 20000) { id } }")
        assert costly.status_code == 400 and "TETHER_GRAPHQL_MAX_COST" in _error(costly)[1]
        by_variable = await cp.graphql("query($n: Int) { runs(limit: $n) { id } }", n=20_000)
        assert by_variable.status_code == 400 and "costs 20001" in _error(by_variable)[1]
        repeated = await cp.graphql("{ runs { id } runs { id } runs { id } }")
        assert repeated.status_code == 400 and "runs is asked for 3 times" in _error(repeated)[1]


async def test_whole_event_logs_of_many_runs_cost_more_than_a_request_may(cp: ControlPlane
                                                                           ) -> None:
    # a run's events and logs come whole unless given a limit: on fifty runs at once that is
    # fifty event logs, however few aliases ask for them
    for query in ("{ runs(limit: 50) { id events { message } } }",
                  "{ runs(limit: 50) { id logs { data } } }"):
        response = await cp.graphql(query)
        assert response.status_code == 400, query
        assert "TETHER_GRAPHQL_MAX_COST" in _error(response)[1]
    bounded = await cp.graphql("{ runs(limit: 50) { id events(limit: 10) { message } } }")
    assert bounded.status_code == 200, bounded.text
    run_id = (await cp.graphql('mutation { launchRun(jobName: "hello_job") { id } }')
              ).json()["data"]["launchRun"]["id"]
    whole = await cp.graphql("query($id: ID!) { run(id: $id) { events { type } logs { data } } }",
                             id=run_id)
    assert whole.status_code == 200 and whole.json()["data"]["run"]["events"], whole.text


# -- nested inputs --------------------------------------------------------------------------


async def test_deep_run_configs_and_variables_are_a_400_not_a_500(cp: ControlPlane) -> None:
    auth = {"authorization": f"Bearer {cp.user_token}", "content-type": "application/json"}
    # 100,000 levels: deeper than any decoder goes
    body = (b'{"query": "mutation($c: JSON) { launchRun(jobName: \\"hello_job\\", runConfig: $c)'
            b' { id } }", "variables": {"c": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}")
    very_deep = await cp.http.post("/graphql", content=body, headers=auth)
    assert very_deep.status_code == 400, very_deep.text
    assert "nests too deeply" in very_deep.text

    # 2,000 levels (written by hand: JSON encoders cannot write it either)
    variables = await cp.http.post("/graphql", headers=auth, content=(
        b'{"query": "query($v: JSON) { runs { id } }", "variables": {"v": '
        + b"[" * 2_000 + b"]" * 2_000 + b"}}"))
    assert variables.status_code == 400 and "nests too deeply" in variables.text
    # 100 levels: decoded, and refused by the limit
    hundred = await cp.graphql("query($v: JSON) { runs { id } }", v=_nested(100))
    assert hundred.status_code == 400 and "TETHER_MAX_INPUT_DEPTH" in _error(hundred)[1]

    just_over = await cp.graphql(LAUNCH, job="hello_job", config={"x": _nested(64)})
    assert just_over.status_code == 400 and _error(just_over)[0] == "BAD_INPUT"
    literal = await cp.graphql(
        'mutation { launchRun(jobName: "hello_job", runConfig: ' + "[" * 100 + "]" * 100
        + ") { id } }")
    assert literal.status_code == 400 and _error(literal)[0] == "BAD_INPUT"
    assert await _runs(cp) == 0

    at_limit = await cp.graphql(LAUNCH, job="hello_job", config={"x": _nested(63)})
    assert at_limit.status_code == 200, at_limit.text


async def test_deep_agent_uploads_are_a_400_and_store_nothing(cp: ControlPlane) -> None:
    run_id = cp.store.launch_run("hello_job")
    start = RunStart(run_id=run_id, attempt=1, seq=1, timestamp=1.0, job_name="hello_job")
    deep = AssetMaterialization(run_id=run_id, attempt=1, seq=2, timestamp=2.0,
                                asset_key="raw", metadata={"rows": JsonValue(data=_nested(65))})
    response = await cp.agent("events", EventBatch(events=[start, deep]))
    assert response.status_code == 400
    assert "metadata of event 2" in response.json()["error"]

    headers = {"content-type": "application/msgpack",
               "authorization": f"Bearer {cp.agent_token}"}
    # too deep for the decoder itself: a JSON metadata value of 100,000 msgpack arrays
    shallow = AssetMaterialization(run_id=run_id, attempt=1, seq=2, timestamp=2.0,
                                   asset_key="raw", metadata={"rows": JsonValue(data=7)})
    body = msgspec.msgpack.encode(EventBatch(events=[start, shallow]))
    assert b"\xa4data\x07" in body
    body = body.replace(b"\xa4data\x07", b"\xa4data" + b"\x91" * 100_000 + b"\x07")
    decoder_deep = await cp.http.post("/agent/v1/events", headers=headers, content=body)
    assert decoder_deep.status_code == 400 and "nests more than" in decoder_deep.text
    assert [e.type for e in cp.store.run_events(run_id)] == ["RUN_QUEUED"]


async def test_a_deep_run_config_in_the_launch_form_is_shown_not_a_500(cp: ControlPlane
                                                                        ) -> None:
    from .ui.conftest import csrf_of

    browser = cp.http
    form = await browser.get("/signin")
    await browser.post("/signin", data={"token": cp.user_token, "csrf": csrf_of(form.text),
                                        "next": "/runs"})
    page = await browser.get("/jobs/hello/hello_job")
    # 100,000 levels (200 kB, 600 kB form-encoded), and 70
    for config in ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",
                   msgspec.json.encode({"a": _nested(70)}).decode()):
        response = await browser.post("/jobs/hello/hello_job/launch", data={
            "config": config, "tags": "", "csrf": csrf_of(page.text)})
        assert response.status_code == 400
        assert "nest" in response.text
    assert await _runs(cp) == 0


# -- ended runs -----------------------------------------------------------------------------


async def test_the_agent_api_adds_no_event_to_an_ended_run(cp: ControlPlane) -> None:
    run_id = cp.store.launch_run("hello_job")
    ended = await cp.agent("events", EventBatch(events=[
        RunStart(run_id=run_id, attempt=1, seq=1, timestamp=1.0, job_name="hello_job"),
        RunSuccess(run_id=run_id, attempt=1, seq=2, timestamp=2.0)]))
    assert msgspec.msgpack.decode(ended.content, type=BatchReceipt).stored == 2

    late = await cp.agent("events", EventBatch(events=[LogMessage(
        run_id=run_id, attempt=1, seq=3, timestamp=3.0, level="INFO", message="rewritten")]))

    assert late.status_code == 200
    assert msgspec.msgpack.decode(late.content, type=BatchReceipt).rejected == 1
    assert "rewritten" not in [event.message for event in cp.store.run_events(run_id)]


# -- rates ----------------------------------------------------------------------------------


async def test_mutations_are_rate_limited_per_token(control_plane: Start) -> None:
    async with control_plane(mutation_burst=3, mutations_per_minute=1) as cp:
        # a mutation refused before it runs spends nothing
        for _ in range(5):
            invalid = await cp.graphql('mutation { launchRun(jobName: "hello_job") { nope } }')
            assert invalid.status_code == 400
        for _ in range(3):
            assert (await cp.graphql(LAUNCH, job="hello_job")).status_code == 200
        limited = await cp.graphql(LAUNCH, job="hello_job")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert _error(limited)[0] == "RATE_LIMITED"
        # queries are not mutations; another token has its own budget
        assert (await cp.graphql("{ runs { id } }")).status_code == 200
        other = cp.store.create_token("user", name="grace")
        assert (await cp.graphql(LAUNCH, token=other, job="hello_job")).status_code == 200
        assert await _runs(cp) == 4


async def test_sign_in_attempts_are_throttled_per_address(control_plane: Start) -> None:
    from .ui.conftest import csrf_of

    async with control_plane(signin_burst=3, signins_per_minute=1) as cp:
        page = await cp.http.get("/signin")
        for _ in range(3):
            # each answer is the form again, with a fresh CSRF token
            page = await cp.http.post("/signin", data={"token": "ttu_guess",
                                                       "csrf": csrf_of(page.text)})
            assert page.status_code == 401
        # even the right token waits now
        throttled = await cp.http.post("/signin", data={"token": cp.user_token,
                                                        "csrf": csrf_of(page.text)})
        assert throttled.status_code == 429
        assert "Too many sign-in attempts" in throttled.text
        assert int(throttled.headers["retry-after"]) >= 1
