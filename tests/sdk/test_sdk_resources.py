"""Resources over a run: set up once before the first step, torn down in reverse order after
the last, also when a step failed or the run was canceled; ``context.resources.<name>``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tether import Definitions, InitResourceContext, OpContext, Resource, job, op, resource
from tether.sdk import RunEmitter, execute_job
from tether.wire import LogMessage, RunCanceled, RunEvent, RunFailure, StepFailure, StepSuccess

# what the resources and ops did, in order, across one test
calls: list[str] = []


@pytest.fixture(autouse=True)
def clear_calls() -> Iterator[None]:
    calls.clear()
    yield
    calls.clear()


class Warehouse(Resource):
    url: str

    def setup_for_execution(self, context: InitResourceContext) -> None:
        calls.append(f"setup warehouse {context.job_name}")
        self._connection = f"connected to {self.url}"

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        calls.append("teardown warehouse")


class Broken(Resource):
    def setup_for_execution(self, context: InitResourceContext) -> None:
        raise ConnectionError("the cache refused the connection")


@resource
def cache(context: InitResourceContext) -> Iterator[dict[str, str]]:
    calls.append("setup cache")
    yield {"hits": "0"}
    calls.append("teardown cache")


@op
def load(warehouse: Warehouse) -> str:
    calls.append(f"load via {warehouse._connection}")
    return "rows"


@op
def count(context: OpContext, rows: str) -> int:
    calls.append(f"count with cache {context.resources.cache['hits']}")
    return len(rows)


@op
def explode(rows: str) -> None:
    raise ValueError("bad rows")


@op
def interrupted(rows: str) -> None:
    raise KeyboardInterrupt


@job
def etl() -> None:
    count(load())


@job
def failing() -> None:
    explode(load())


@job
def canceled_job() -> None:
    interrupted(load())


def run(defs: Definitions, job_name: str, **kwargs: Any) -> tuple[bool, list[RunEvent]]:
    events: list[RunEvent] = []
    ok = execute_job(defs, job_name, emitter=RunEmitter(run_id="r", attempt=1,
                                                        sink=events.append), **kwargs)
    return ok, events


def definitions(**resources: Any) -> Definitions:
    return Definitions(jobs=[etl, failing, canceled_job],
                       resources={"warehouse": Warehouse(url="db://x"), "cache": cache,
                                  **resources})


def test_resources_are_set_up_once_and_torn_down_in_reverse_order() -> None:
    defs = definitions()
    ok, _ = run(defs, "etl")
    assert ok
    assert calls == ["setup warehouse etl", "load via connected to db://x", "setup cache",
                     "count with cache 0", "teardown cache", "teardown warehouse"]
    # the location's own instance holds no run's state: each run sets up its own copy
    assert not hasattr(defs.resources["warehouse"], "_connection")
    calls.clear()
    assert run(defs, "etl")[0]
    assert calls.count("setup warehouse etl") == 1 and calls.count("teardown warehouse") == 1


def test_teardown_runs_when_a_step_fails() -> None:
    ok, events = run(definitions(), "failing")
    assert not ok
    assert calls == ["setup warehouse failing", "load via connected to db://x",
                     "teardown warehouse"]
    assert isinstance(events[-1], RunFailure)
    assert any(isinstance(e, StepFailure) and e.step_key == "explode" for e in events)


def test_teardown_runs_when_the_run_is_canceled() -> None:
    events: list[RunEvent] = []
    with pytest.raises(KeyboardInterrupt):
        execute_job(definitions(), "canceled_job",
                    emitter=RunEmitter(run_id="r", attempt=1, sink=events.append),
                    canceled=lambda: True)
    assert calls[-1] == "teardown warehouse"
    assert isinstance(events[-1], RunCanceled)


def test_a_setup_that_raises_fails_the_run_before_its_first_step_naming_the_resource() -> None:
    @op
    def uses_broken(broken: Broken) -> None:
        calls.append("step ran")

    @job
    def needs_broken() -> None:
        uses_broken()

    defs = Definitions(jobs=[needs_broken], resources={"broken": Broken()})
    ok, events = run(defs, "needs_broken")
    assert not ok and calls == []
    assert not any(isinstance(e, StepSuccess | StepFailure) for e in events)
    failure = events[-1]
    assert isinstance(failure, RunFailure)
    assert "resource 'broken' failed to set up: ConnectionError: the cache refused" \
        in failure.message
    assert failure.error is not None and failure.error.class_name == "ConnectionError"
    assert "test_sdk_resources.py" in failure.error.stack
    assert "setup_for_execution" in failure.error.stack


def test_earlier_resources_are_torn_down_when_a_later_setup_fails() -> None:
    @op
    def uses_both(warehouse: Warehouse, broken: Broken) -> None:
        calls.append("step ran")

    @job
    def needs_both() -> None:
        uses_both()

    defs = Definitions(jobs=[needs_both],
                       resources={"warehouse": Warehouse(url="u"), "broken": Broken()})
    ok, _ = run(defs, "needs_both")
    assert not ok
    assert calls == ["setup warehouse needs_both", "teardown warehouse"]


def test_a_teardown_that_raises_is_logged_and_keeps_the_run_successful() -> None:
    @resource
    def leaky() -> Iterator[str]:
        yield "value"
        raise OSError("could not close")

    @op
    def uses_leaky(context: OpContext) -> str:
        return str(context.resources.leaky)

    @job
    def leaking() -> None:
        uses_leaky()

    ok, events = run(Definitions(jobs=[leaking], resources={"leaky": leaky}), "leaking")
    assert ok
    [logged] = [e for e in events if isinstance(e, LogMessage) and e.level == "ERROR"]
    assert "resource 'leaky' failed to tear down: OSError: could not close" in logged.message


def test_context_resources_names_the_defined_ones_when_asked_for_another() -> None:
    @op
    def asks(context: OpContext) -> None:
        context.resources.nope  # noqa: B018

    @job
    def asking() -> None:
        asks()

    _, events = run(Definitions(jobs=[asking], resources={"cache": cache}), "asking")
    [failure] = [e for e in events if isinstance(e, StepFailure)]
    assert "no resource 'nope'; defined: cache" in failure.error.message


def test_an_io_manager_made_by_a_resource_function_is_set_up_and_torn_down() -> None:
    from tether import InputContext, IOManager, OutputContext

    class Memory(IOManager):
        def __init__(self) -> None:
            self.values: dict[str, object] = {}

        def handle_output(self, context: OutputContext, obj: object) -> None:
            self.values[context.step_key] = obj

        def load_input(self, context: InputContext) -> object:
            return self.values[context.upstream_output.step_key]

    @resource
    def memory() -> Iterator[Memory]:
        calls.append("open store")
        yield Memory()
        calls.append("close store")

    @op
    def one() -> int:
        return 1

    @op
    def plus(value: int) -> int:
        calls.append(f"plus got {value}")
        return value + 1

    @job
    def chained() -> None:
        plus(one())

    ok, _ = run(Definitions(jobs=[chained], resources={"io_manager": memory}), "chained")
    assert ok
    assert calls == ["open store", "plus got 1", "close store"]
