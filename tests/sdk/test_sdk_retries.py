"""Op retries: RetryPolicy and RetryRequested, seen in a run's events."""

from __future__ import annotations

import pytest

from tether import (
    Backoff,
    Definitions,
    Jitter,
    OpContext,
    RetryPolicy,
    RetryRequested,
    asset,
    define_asset_job,
    job,
    op,
)
from tether.sdk import RunEmitter, execute_job
from tether.wire import RunEvent, StepFailure, StepRetry, StepStart, event_message, event_type

TRIES: dict[str, int] = {}


@op(retry_policy=RetryPolicy(max_retries=3, delay=0.1, backoff=Backoff.LINEAR))
def flaky(context: OpContext) -> int:
    TRIES["flaky"] = TRIES.get("flaky", 0) + 1
    if context.retry_number < 2:
        raise ConnectionError(f"try {context.retry_number} lost the connection")
    return context.retry_number


@op
def asks_again(context: OpContext) -> str:
    try:
        if context.retry_number == 0:
            raise TimeoutError("warehouse busy")
    except TimeoutError as exc:
        raise RetryRequested(max_retries=2, seconds_to_wait=0.05) from exc
    return "ok"


@op(retry_policy=RetryPolicy(max_retries=1))
def always_broken() -> int:
    raise ValueError("still broken")


@op
def downstream(value: int) -> int:
    return value


@job
def retried() -> None:
    downstream(flaky())
    asks_again()


@job
def exhausted() -> None:
    downstream(always_broken())


ASSET_TRIES: list[int] = []


@asset(retry_policy=RetryPolicy(max_retries=1))
def shaky() -> int:
    ASSET_TRIES.append(1)
    if len(ASSET_TRIES) == 1:
        raise OSError("disk hiccup")
    return 1


DEFS = Definitions(jobs=[retried, exhausted, define_asset_job("assets")], assets=[shaky])


def run(job_name: str) -> tuple[bool, list[RunEvent]]:
    events: list[RunEvent] = []
    emitter = RunEmitter(run_id="run-1", attempt=1, sink=events.append)
    ok = execute_job(DEFS, job_name, emitter=emitter,
                     run_config={"execution": {"executor": "in_process"}})
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    return ok, events


def test_a_retry_policy_runs_the_step_again_after_its_delays_until_it_succeeds() -> None:
    ok, events = run("retried")
    assert ok
    flaky_events = [e for e in events if e.step_key == "flaky"]
    assert [event_type(e) for e in flaky_events] == [
        "STEP_START", "STEP_RETRY", "STEP_START", "STEP_RETRY", "STEP_START", "STEP_SUCCESS"]
    retries = [e for e in flaky_events if isinstance(e, StepRetry)]
    assert [(r.step_attempt, r.delay) for r in retries] == [(1, 0.1), (2, 0.2)]
    assert retries[0].error.class_name == "ConnectionError"
    assert "try 0 lost the connection" in retries[0].error.message
    assert "in flaky" in retries[0].error.stack
    starts = [e for e in flaky_events if isinstance(e, StepStart)]
    assert [s.step_attempt for s in starts] == [1, 2, 3]
    # the delays were waited: linear backoff, 0.1 s then 0.2 s
    assert starts[1].timestamp - retries[0].timestamp >= 0.1
    assert starts[2].timestamp - retries[1].timestamp >= 0.2
    assert event_message(retries[1]) == (
        "Step flaky attempt 2 failed (ConnectionError: try 1 lost the connection); "
        "retrying in 200 ms")
    assert not any(isinstance(e, StepFailure) for e in events)


def test_retry_requested_shows_the_error_it_was_raised_from() -> None:
    ok, events = run("retried")
    assert ok
    retry = next(e for e in events if isinstance(e, StepRetry) and e.step_key == "asks_again")
    assert retry.error.class_name == "TimeoutError" and retry.error.message == "warehouse busy"
    assert retry.delay == 0.05


def test_a_step_out_of_retries_fails_and_skips_its_downstream() -> None:
    ok, events = run("exhausted")
    assert not ok
    assert [(event_type(e), e.step_key) for e in events][1:-1] == [
        ("STEP_START", "always_broken"), ("STEP_RETRY", "always_broken"),
        ("STEP_START", "always_broken"), ("STEP_FAILURE", "always_broken"),
        ("STEP_SKIPPED", "downstream")]


def test_an_asset_retry_policy_retries_its_materialization() -> None:
    ok, events = run("assets")
    assert ok
    assert [event_type(e) for e in events if e.step_key == "shaky"] == [
        "STEP_START", "STEP_RETRY", "STEP_START", "ASSET_MATERIALIZATION", "STEP_SUCCESS"]


@pytest.mark.parametrize(("policy", "retry_number", "low", "high"), [
    (RetryPolicy(delay=1.0), 3, 1.0, 1.0),
    (RetryPolicy(delay=1.0, backoff=Backoff.LINEAR), 3, 3.0, 3.0),
    (RetryPolicy(delay=1.0, backoff=Backoff.EXPONENTIAL), 3, 7.0, 7.0),
    (RetryPolicy(delay=2.0, jitter=Jitter.FULL), 1, 0.0, 2.0),
    (RetryPolicy(delay=2.0, jitter=Jitter.PLUS_MINUS), 1, 0.0, 4.0),
])
def test_delays_grow_by_backoff_and_vary_by_jitter(policy: RetryPolicy, retry_number: int,
                                                   low: float, high: float) -> None:
    for _ in range(20):
        assert low <= policy.seconds_before(retry_number) <= high
