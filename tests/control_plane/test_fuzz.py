"""Property-based tests (Hypothesis) of every agent API decoder and of the GraphQL inputs:
whatever the body, the answer is a 2xx or a 4xx, never a 5xx; it comes promptly; and a
refused request stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tether.control_plane import create_app
from tether.control_plane.storage import Store, metadata
from tether.settings import Settings
from tether.wire import (
    AgentHeartbeat,
    AssetMaterialization,
    ClaimRequest,
    ErrorInfo,
    EventBatch,
    JobSnapshot,
    LocationLoaded,
    LocationSnapshot,
    LogBatch,
    LogChunk,
    LogMessage,
    RequestedRun,
    ResultBatch,
    RunFailure,
    RunLaunched,
    RunStart,
    RunSuccess,
    RunWorkerExited,
    StepFailure,
    StepStart,
    StepSuccess,
    TickEvaluated,
    TickOutcome,
    WorkerStatus,
)

from .conftest import load_location

FUZZ = settings(max_examples=75, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ANSWERS = {200, 400, 413, 422, 429}

# any msgpack-able value: what a broken or hostile agent might send in any field
SCALARS = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
           | st.floats() | st.text(max_size=20) | st.binary(max_size=20))
ANY = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                   | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**53), 2**53)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
JSON = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_DROPPED = object()


def mutated(value: Any) -> st.SearchStrategy[Any]:
    """``value`` (plain data) with any of its parts replaced by anything, or dropped."""
    if isinstance(value, dict):
        fields = {key: st.one_of(mutated(item), st.just(_DROPPED))
                  for key, item in value.items()}
        return st.fixed_dictionaries(fields).map(
            lambda built: {k: v for k, v in built.items() if v is not _DROPPED})
    if isinstance(value, list):
        if not value:
            return st.lists(ANY, max_size=2)
        return st.lists(st.one_of(*[mutated(item) for item in value]), max_size=len(value) + 1)
    return st.one_of(st.just(value), ANY)


@dataclass
class Served:
    portal: BlockingPortal
    http: httpx.AsyncClient
    store: Store
    run_id: str
    agent: dict[str, str]
    user: dict[str, str]

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST on the app, which runs in the portal's event loop (a Hypothesis test is
        synchronous)."""
        return self.portal.call(lambda: self.http.post(path, content=body, headers=headers))

    def fingerprint(self) -> dict[str, int]:
        """Rows per table: what a refused request must leave as it was."""
        with self.store.engine.connect() as conn:
            return {table.name: conn.execute(sa.select(sa.func.count()).select_from(table)
                                             ).scalar_one()
                    for table in metadata.sorted_tables}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    # no rate limit on mutations here: the fuzzer sends thousands
    settings_ = Settings(data_dir=str(data_dir), mutations_per_minute=0)
    app = create_app(settings_)
    with start_blocking_portal() as portal, \
            portal.wrap_async_context_manager(app.router.lifespan_context(app)):
        http = portal.call(lambda: _client(app))
        store = Store.from_url(settings_.resolved_database_url)
        load_location(store)
        run_id = store.launch_run("hello_job")
        agent, user = store.create_token("agent"), store.create_token("user")
        # a token's first use is audited whatever the request: have it behind us, so that
        # a refused request that stores nothing leaves every table as it was
        for token, via in ((agent, "agent-api"), (user, "graphql")):
            info = store.authenticate(token)
            assert info is not None
            store.note_use(info, via=via)
        yield Served(portal=portal, http=http, store=store, run_id=run_id,
                     agent={"authorization": f"Bearer {agent}",
                            "content-type": "application/msgpack"},
                     user={"authorization": f"Bearer {user}",
                           "content-type": "application/json"})
        portal.call(http.aclose)
        store.close()


async def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cp")


def _templates(run_id: str) -> dict[str, Any]:
    """A valid body of each agent API call, as plain data, for the fuzzer to mutate."""
    error = ErrorInfo(class_name="ValueError", message="bad", stack="Traceback ...")
    events = EventBatch(events=[
        RunStart(run_id=run_id, attempt=1, seq=1, timestamp=1.0, job_name="hello_job"),
        StepStart(run_id=run_id, attempt=1, seq=2, timestamp=2.0, step_key="extract"),
        LogMessage(run_id=run_id, attempt=1, seq=3, timestamp=3.0, level="INFO",
                   message="hello"),
        AssetMaterialization(run_id=run_id, attempt=1, seq=4, timestamp=4.0, asset_key="raw",
                             metadata={"rows": [1, 2, {"x": None}]}),
        StepSuccess(run_id=run_id, attempt=1, seq=5, timestamp=5.0, step_key="extract",
                    duration=1.0),
        StepFailure(run_id=run_id, attempt=1, seq=6, timestamp=6.0, step_key="load",
                    duration=1.0, error=error),
        RunFailure(run_id=run_id, attempt=1, seq=7, timestamp=7.0, message="x", error=error),
        RunSuccess(run_id=run_id, attempt=1, seq=8, timestamp=8.0),
    ])
    logs = LogBatch(chunks=[LogChunk(run_id=run_id, attempt=1, stream="stdout", seq=1,
                                     data="out\n", step_key="extract")])
    results = ResultBatch(results=[
        RunLaunched(run_id=run_id, attempt=1, pid=1, agent_id="fuzz"),
        RunWorkerExited(run_id=run_id, attempt=1, exit_code=-9, stderr_tail="Killed"),
        LocationLoaded(location="hello", generation=1, snapshot=LocationSnapshot(
            location="hello", jobs=[JobSnapshot(name="hello_job",
                                                run_config_schema={"type": "object"})])),
        TickEvaluated(tick_id=1, outcome=TickOutcome(run_requests=[RequestedRun(
            job_name="hello_job", run_key="k", run_config={"a": 1}, tags={"t": "v"})])),
    ])
    heartbeat = AgentHeartbeat(agent_id="fuzz", version="0", queues=["default"],
                               timestamp=1.0, workers=[WorkerStatus(
                                   kind="uploader", consumer="c", pid=1, started_at=1.0,
                                   seen_at=1.0)])
    claim = ClaimRequest(agent_id="fuzz", queues=["default"], max_items=1, wait_seconds=0)
    return {name: msgspec.to_builtins(body) for name, body in (
        ("events", events), ("logs", logs), ("results", results), ("heartbeat", heartbeat),
        ("claim", claim))}


TEMPLATES = _templates("RUN")


def _post_agent(served: Served, path: str, body: bytes) -> None:
    if path == "claim":
        # a valid claim long-polls for up to its wait_seconds: that is not a hang
        try:
            claim = msgspec.msgpack.decode(body, type=ClaimRequest)
        except (msgspec.DecodeError, RecursionError):
            pass
        else:
            assume(claim.wait_seconds <= 0.1)
    before = served.fingerprint()
    response = served.post(f"/agent/v1/{path}", body, served.agent)
    assert response.status_code in ANSWERS, (response.status_code, response.text)
    if response.status_code != 200:
        assert "error" in response.json()
        assert served.fingerprint() == before, "a refused request stored something"


def _with_run(value: Any, run_id: str) -> Any:
    if isinstance(value, dict):
        return {k: _with_run(v, run_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_run(v, run_id) for v in value]
    return run_id if value == "RUN" else value


@pytest.mark.parametrize("path", sorted(TEMPLATES))
@FUZZ
@given(data=st.data())
def test_agent_api_bodies_mutated_from_valid_ones(served: Served, path: str,
                                                  data: st.DataObject) -> None:
    body = data.draw(mutated(_with_run(TEMPLATES[path], served.run_id)))
    _post_agent(served, path, msgspec.msgpack.encode(body))


def _deep_metadata(levels: int) -> bytes:
    """An events upload whose asset metadata nests ``levels`` msgpack arrays deep (written
    by hand: encoders stop at about a thousand)."""
    event = AssetMaterialization(run_id="RUN", attempt=1, seq=1, timestamp=1.0,
                                 asset_key="raw", metadata={"rows": 7})
    body = msgspec.msgpack.encode(EventBatch(events=[event]))
    return body.replace(b"\xa4rows\x07", b"\xa4rows" + b"\x91" * levels + b"\x07")


@pytest.mark.parametrize("path", sorted(TEMPLATES))
@FUZZ
@given(body=st.binary(max_size=512) | ANY.map(msgspec.msgpack.encode)
       | st.integers(1, 200_000).map(_deep_metadata))
def test_agent_api_arbitrary_bodies(served: Served, path: str, body: bytes) -> None:
    _post_agent(served, path, body.replace(b"RUN", served.run_id.encode()))


# -- GraphQL ---------------------------------------------------------------------------------

TOKENS = ["{", "}", "(", ")", "[", "]", ":", ",", "...", "$v", "query", "mutation",
          "fragment", "on", "Run", "F", "runs", "run", "id", "events", "message", "logs",
          "limit:", "50", "-1", "99999999999", "a:", "b:", "launchRun", "jobName:",
          '"hello_job"', "runConfig:", "tags:", "terminateRun", "id:", '"x"', "null",
          "true", "codeLocations", "jobs", "nodes", "inputs", "name", "__typename",
          "__schema", "types", "@skip(if: true)", "($v: JSON)", "($v: Int)"]
QUERIES = st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join) | st.text(max_size=200)


def _post_graphql(served: Served, body: bytes) -> None:
    before = served.fingerprint()
    response = served.post("/graphql", body, served.user)
    assert response.status_code in ANSWERS, (response.status_code, response.text)
    answer = response.json()
    if response.status_code != 200:
        assert answer.get("errors") or answer.get("error")
        assert served.fingerprint() == before, "a refused request stored something"


@FUZZ
@given(query=QUERIES, variables=st.none() | st.dictionaries(st.just("v"), JSON, max_size=1))
def test_graphql_documents_and_variables(served: Served, query: str,
                                         variables: dict[str, Any] | None) -> None:
    _post_graphql(served, msgspec.json.encode({"query": query, "variables": variables}))


LAUNCH = ("mutation($c: JSON, $t: JSON) { launchRun(jobName: \"hello_job\", runConfig: $c, "
          "tags: $t) { id runConfig tags } }")


@FUZZ
@given(config=JSON, tags=JSON)
def test_launch_inputs(served: Served, config: Any, tags: Any) -> None:
    _post_graphql(served, msgspec.json.encode(
        {"query": LAUNCH, "variables": {"c": config, "t": tags}}))


def _deep_variables(levels: int) -> bytes:
    return (b'{"query": "query($v: JSON) { runs { id } }", "variables": {"v": '
            + b"[" * levels + b"]" * levels + b"}}")


@FUZZ
@given(body=st.binary(max_size=512) | JSON.map(msgspec.json.encode)
       | st.integers(1, 200_000).map(_deep_variables))
def test_graphql_arbitrary_bodies(served: Served, body: bytes) -> None:
    _post_graphql(served, body)
