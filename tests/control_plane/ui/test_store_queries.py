"""The store's queries behind the web UI, on SQLite and PostgreSQL: keyset pages of runs
(also when many runs share a creation time), tag filters, event log pages and live tails, step
spans, latest materializations, asset check results and sessions."""

from __future__ import annotations

from tether.control_plane.storage import AssetState, AssetStatus, Store
from tether.wire import (
    AssetCheckEvaluation,
    AssetMaterialization,
    ErrorInfo,
    IntValue,
    LogChunk,
    LogMessage,
    RunFailure,
    RunStart,
    RunSuccess,
    StepFailure,
    StepRetry,
    StepStart,
    StepSuccess,
)

from ..conftest import FakeClock, load_location


def test_run_pages_cover_every_run_once_even_when_created_at_ties(
        store: Store, clock: FakeClock) -> None:
    load_location(store)
    launched = []
    for i in range(23):
        if i % 5 == 0:
            clock.advance(1)  # runs of one second share their created_at
        launched.append(store.launch_run("hello_job", tags={"shard": str(i % 2)}))
    seen: list[str] = []
    before = None
    while True:
        page = store.list_runs(4, before=before)
        seen += [run.run_id for run in page]
        if len(page) < 4:
            break
        before = (page[-1].created_at, page[-1].run_id)
    assert sorted(seen) == sorted(launched) and len(seen) == len(set(seen))
    times = [store.get_run(run_id).created_at for run_id in seen]  # type: ignore[union-attr]
    assert times == sorted(times, reverse=True)

    odd = store.list_runs(100, tag=("shard", "1"))
    assert {run.run_id for run in odd} == {r for i, r in enumerate(launched) if i % 2 == 1}
    first = store.list_runs(3, tag=("shard", "1"))
    rest = store.list_runs(100, tag=("shard", "1"),
                           before=(first[-1].created_at, first[-1].run_id))
    assert [r.run_id for r in first + rest] == [r.run_id for r in odd]
    store.terminate_run(launched[3])
    assert [r.run_id for r in store.list_runs(100, status="CANCELED", tag=("shard", "1"))] \
        == [launched[3]]
    assert store.list_runs(100, status="CANCELED", tag=("shard", "0")) == []


def test_event_pages_filter_and_tail_and_steps_have_spans(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    t = 1_700_000_100.0
    store.store_events([
        RunStart(run_id=run_id, attempt=1, seq=1, timestamp=t, job_name="hello_job"),
        StepStart(run_id=run_id, attempt=1, seq=2, timestamp=t + 1, step_key="extract"),
        LogMessage(run_id=run_id, attempt=1, seq=3, timestamp=t + 2, step_key="extract",
                   level="WARNING", message="slow source"),
        StepSuccess(run_id=run_id, attempt=1, seq=4, timestamp=t + 3, step_key="extract",
                    duration=2.0),
        StepStart(run_id=run_id, attempt=1, seq=5, timestamp=t + 3, step_key="load"),
    ])
    page, total, newest = store.events_page(run_id, limit=100)
    assert total == 6 and newest == max(e.id for e in page)
    assert [e.type for e in page][-1] == "STEP_START"
    warnings, _, _ = store.events_page(run_id, limit=100, levels=["WARNING", "ERROR"])
    assert [e.message for e in warnings] == ["slow source"]
    extract, _, _ = store.events_page(run_id, limit=100, step_key="extract")
    assert [e.seq for e in extract] == [2, 3, 4]
    first_two, _, _ = store.events_page(run_id, limit=2)
    after, _, _ = store.events_page(run_id, limit=100,
                                    after=(first_two[-1].timestamp, first_two[-1].id))
    assert [e.id for e in first_two + after] == [e.id for e in page]

    spans = {s.step_key: s for s in store.step_spans(run_id)}
    assert (spans["extract"].status, spans["extract"].start, spans["extract"].end) == \
        ("SUCCESS", t + 1, t + 3)
    assert (spans["load"].status, spans["load"].end) == ("STARTED", None)

    store.store_events([StepFailure(
        run_id=run_id, attempt=1, seq=6, timestamp=t + 4, step_key="load", duration=1.0,
        error=ErrorInfo(class_name="ValueError", message="bad", stack="tb"))])
    tail, total, latest = store.events_page(run_id, limit=100, after_id=newest)
    assert [e.type for e in tail] == ["STEP_FAILURE"] and total == 7 and latest == tail[0].id
    assert store.events_page(run_id, limit=100, after_id=latest)[0] == []
    assert {s.step_key: s.status for s in store.step_spans(run_id)}["load"] == "FAILURE"


def test_a_retried_step_shows_retrying_then_running_again_with_its_attempts(
        store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    t = 1_700_000_100.0
    error = ErrorInfo(class_name="ConnectionError", message="lost it", stack="tb")
    store.store_events([
        RunStart(run_id=run_id, attempt=1, seq=1, timestamp=t, job_name="hello_job"),
        StepStart(run_id=run_id, attempt=1, seq=2, timestamp=t + 1, step_key="extract"),
        StepRetry(run_id=run_id, attempt=1, seq=3, timestamp=t + 2, step_key="extract",
                  duration=1.0, error=error, step_attempt=1, delay=5.0),
    ])
    [span] = store.step_spans(run_id)
    assert (span.status, span.start, span.end, span.step_attempts) == \
        ("RETRYING", t + 1, None, 1)
    retry = store.events_page(run_id, limit=100)[0][-1]
    assert retry.type == "STEP_RETRY" and retry.level == "WARNING"
    assert "retrying in 5.0 s" in retry.message

    store.store_events([
        StepStart(run_id=run_id, attempt=1, seq=4, timestamp=t + 7, step_key="extract",
                  step_attempt=2),
    ])
    [span] = store.step_spans(run_id)
    assert (span.status, span.start, span.end, span.step_attempts) == ("STARTED", t + 1, None, 2)
    store.store_events([
        StepSuccess(run_id=run_id, attempt=1, seq=5, timestamp=t + 8, step_key="extract",
                    duration=1.0),
    ])
    [span] = store.step_spans(run_id)
    assert (span.status, span.end, span.step_attempts) == ("SUCCESS", t + 8, 2)
    # a retried attempt is not a failed step
    run = store.get_run(run_id)
    assert run is not None and run.steps_failed == 0


def test_the_latest_materialization_of_each_asset(store: Store) -> None:
    load_location(store)
    run_a, run_b = store.launch_run("hello_job"), store.launch_run("hello_job")
    store.store_events([AssetMaterialization(run_id=run_a, attempt=1, seq=1, timestamp=1.0,
                                             asset_key="raw",
                                             metadata={"rows": IntValue(value=1)})])
    store.store_events([AssetMaterialization(run_id=run_b, attempt=1, seq=1, timestamp=2.0,
                                             asset_key="raw",
                                             metadata={"rows": IntValue(value=2)})])
    latest = store.latest_materializations(["raw", "clean"])
    assert set(latest) == {"raw"}
    assert (latest["raw"].run_id, latest["raw"].metadata) == (run_b, {"rows": IntValue(value=2)})


def test_check_results_newest_first_per_asset_and_check_and_per_run(store: Store) -> None:
    load_location(store)
    run_a, run_b = store.launch_run("hello_job"), store.launch_run("hello_job")

    def result(run_id: str, seq: int, asset: str, check: str, passed: bool,
               severity: str = "ERROR") -> AssetCheckEvaluation:
        return AssetCheckEvaluation(run_id=run_id, attempt=1, seq=seq, timestamp=float(seq),
                                    step_key=f"{asset}__{check}", asset_key=asset,
                                    check_name=check, passed=passed,
                                    severity=severity,  # type: ignore[arg-type]
                                    metadata={"rows": IntValue(value=seq)})

    store.store_events([result(run_a, 1, "raw", "has_rows", True),
                        result(run_a, 2, "raw", "sorted", False, "WARN"),
                        result(run_a, 3, "clean", "has_rows", True)])
    store.store_events([result(run_b, 4, "raw", "has_rows", False)])
    newest = store.check_evaluations("raw")
    assert [(e.check_name, e.run_id, e.passed) for e in newest] == [
        ("has_rows", run_b, False), ("sorted", run_a, False), ("has_rows", run_a, True)]
    assert [e.run_id for e in store.check_evaluations("raw", 1, "has_rows")] == [run_b]
    assert newest[1].severity == "WARN" and newest[1].metadata == {"rows": IntValue(value=2)}
    assert [(e.asset_key, e.check_name) for e in store.run_check_evaluations(run_a)] == [
        ("raw", "has_rows"), ("raw", "sorted"), ("clean", "has_rows")]
    # a failed check is a warning in the run's log, a passed one information
    page, _, _ = store.events_page(run_a, limit=100, levels=["WARNING"])
    assert [e.message for e in page] == ["Check sorted of asset raw failed (WARN)"]

    # each asset's checks by the newest result of each, however many older ones it has
    store.store_events([result(run_b, 5 + n, "clean", "has_rows", n % 2 == 1)
                        for n in range(30)])
    summaries = store.check_summaries({"raw": ["has_rows", "sorted", "never_ran"],
                                       "clean": ["has_rows"], "unchecked": ["has_rows"]})
    raw = summaries["raw"]
    assert (raw.total, raw.passed, raw.failed, raw.warned, raw.never) == (
        3, 0, ("has_rows",), ("sorted",), 1)
    assert raw.state == "FAILED"
    assert raw.text == ("0/3 checks passed; failed (ERROR): has_rows; "
                        "failed (WARN): sorted; 1 not evaluated yet")
    assert (summaries["clean"].state, summaries["clean"].text) == (
        "PASSED", "1/1 check passed")
    assert (summaries["unchecked"].state, summaries["unchecked"].never) == ("PENDING", 1)
    assert store.check_summaries({}) == {}
    store.store_events([result(run_b, 40, "raw", "has_rows", True),
                        result(run_b, 41, "raw", "sorted", True)])
    passing = store.check_summaries({"raw": ["has_rows", "sorted"]})["raw"]
    assert (passing.state, passing.text) == ("PASSED", "2/2 checks passed")


def test_sessions_expire_end_and_die_with_their_token(store: Store, clock: FakeClock) -> None:
    token = store.create_token("user", role="launcher", name="ada")
    info = store.authenticate(token)
    assert info is not None
    session_id, csrf = store.create_session(info.id, lifetime=60)
    session = store.get_session(session_id)
    assert session is not None and session.csrf == csrf and session.token.role == "launcher"
    assert store.get_session("not-a-session") is None
    clock.advance(61)
    assert store.get_session(session_id) is None
    second, _ = store.create_session(info.id, lifetime=60)
    other, _ = store.create_session(info.id, lifetime=60)
    store.end_session(second)
    assert store.get_session(second) is None and store.get_session(other) is not None
    store.revoke_token(info.id)
    assert store.get_session(other) is None
    listed = {t.name: t for t in store.list_tokens()}
    assert listed["ada"].revoked_at == clock.now


def test_the_log_search_ignores_case_takes_wildcards_literally_and_pages(
        store: Store, clock: FakeClock) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    t = clock.now
    messages = ["Loaded 100% of ROWS", "loaded 1000 of rows", "rows_total = 5",
                "a\\b path", "nothing here"] * 3
    store.store_events([LogMessage(run_id=run_id, attempt=1, seq=i + 1, timestamp=t + i,
                                   step_key="load", level="INFO", message=message)
                        for i, message in enumerate(messages)])

    def found(text: str, **kwargs: object) -> list[str]:
        page, _, _ = store.events_page(run_id, limit=100, text=text, **kwargs)  # type: ignore[arg-type]
        return [event.message for event in page]

    assert found("loaded 100") == ["Loaded 100% of ROWS", "loaded 1000 of rows"] * 3
    assert found("100%") == ["Loaded 100% of ROWS"] * 3
    assert found("rows_") == ["rows_total = 5"] * 3 and found("rows_t") == found("rows_")
    assert found("a\\b") == ["a\\b path"] * 3
    assert found("0%") == ["Loaded 100% of ROWS"] * 3
    first, _, _ = store.events_page(run_id, limit=2, text="ROWS")
    rest, _, _ = store.events_page(run_id, limit=100, text="ROWS",
                                   after=(first[-1].timestamp, first[-1].id))
    assert [e.id for e in first + rest] == [e.id for e in store.events_page(
        run_id, limit=100, text="rows")[0]]
    assert len(first + rest) == 9


def test_run_facts_name_the_phases_the_failed_step_and_the_first_error(
        store: Store, clock: FakeClock) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    queued = clock.now
    clock.advance(2)
    assert store.claim_work("agent", ["default"], 10, 60)
    facts = store.run_facts(run_id, 1)
    assert (facts.queued_at, facts.starting_at) == (queued, queued + 2)
    assert facts.stopped_steps == [] and facts.first_error is None
    t = clock.now
    store.store_events([
        RunStart(run_id=run_id, attempt=1, seq=1, timestamp=t, job_name="hello_job"),
        StepStart(run_id=run_id, attempt=1, seq=2, timestamp=t + 1, step_key="load"),
        LogMessage(run_id=run_id, attempt=1, seq=3, timestamp=t + 2, step_key="load",
                   level="ERROR", message="row 7 is bad"),
        StepFailure(run_id=run_id, attempt=1, seq=4, timestamp=t + 3, step_key="load",
                    duration=2.0, error=ErrorInfo(class_name="ValueError", message="bad",
                                                  stack="Traceback: bad"))])
    facts = store.run_facts(run_id, 1)
    [failed] = facts.stopped_steps
    assert failed.step_key == "load" and failed.error is not None
    assert failed.error.stack == "Traceback: bad"
    assert facts.first_error is not None and facts.first_error.message == "row 7 is bad"


def test_compute_output_reads_the_newest_chunks_of_a_step_that_contain_a_text(
        store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    store.store_logs([LogChunk(run_id=run_id, attempt=1, stream="stdout", seq=i,
                               step_key="load" if i % 2 else "extract",
                               data=f"line {i}{' WARN 50%' if i % 10 == 1 else ''}\n")
                      for i in range(1, 41)])
    newest = store.compute_output(run_id, stream="stdout", step_key="load", limit=3)
    assert [c.data for c in newest] == ["line 35\n", "line 37\n", "line 39\n"]
    found = store.compute_output(run_id, stream="stdout", text="warn 50%", limit=100)
    assert [c.seq for c in found] == [1, 11, 21, 31]
    assert store.compute_output(run_id, stream="stderr", limit=10) == []


def test_each_asset_has_its_latest_status(store: Store) -> None:
    """Materialized, its last attempt failed (a step failure, or a run that ended under a
    started step), in progress (a started step of a running run, also its multi-asset's step
    before its own), never; a later attempt that fails hides an older materialization."""
    load_location(store)
    done, failed, running, died = (store.launch_run("hello_job") for _ in range(4))
    store.store_events([
        StepStart(run_id=done, attempt=1, seq=1, timestamp=1.0, step_key="warehouse__orders"),
        AssetMaterialization(run_id=done, attempt=1, seq=2, timestamp=2.0,
                             asset_key="warehouse/orders", step_key="warehouse__orders"),
        StepSuccess(run_id=done, attempt=1, seq=3, timestamp=2.0, duration=1.0,
                    step_key="warehouse__orders"),
        StepStart(run_id=done, attempt=1, seq=4, timestamp=2.0, step_key="clean"),
        AssetMaterialization(run_id=done, attempt=1, seq=5, timestamp=3.0, asset_key="clean",
                             step_key="clean"),
        StepSuccess(run_id=done, attempt=1, seq=6, timestamp=3.0, duration=1.0,
                    step_key="clean"),
        RunSuccess(run_id=done, attempt=1, seq=7, timestamp=3.0)])
    store.store_events([
        StepStart(run_id=failed, attempt=1, seq=1, timestamp=4.0, step_key="clean"),
        StepFailure(run_id=failed, attempt=1, seq=2, timestamp=5.0, duration=1.0,
                    error=ErrorInfo(class_name="ValueError", message="bad"),
                    step_key="clean")])
    store.store_events([
        RunStart(run_id=running, attempt=1, seq=1, timestamp=6.0, job_name="hello_job", pid=1),
        StepStart(run_id=running, attempt=1, seq=2, timestamp=6.0, step_key="warehouse__orders"),
        StepSuccess(run_id=running, attempt=1, seq=3, timestamp=6.0, duration=0.1,
                    step_key="split")])
    store.store_events([
        StepStart(run_id=died, attempt=1, seq=1, timestamp=7.0, step_key="gone"),
        RunFailure(run_id=died, attempt=1, seq=2, timestamp=8.0, message="worker died")])
    states = store.asset_states({"warehouse/orders": [], "clean": [], "low": ["split"],
                                 "gone": [], "never": []})
    status = {key: state.status for key, state in states.items()}
    assert status == {"warehouse/orders": AssetStatus.IN_PROGRESS,
                      "clean": AssetStatus.FAILED, "low": AssetStatus.IN_PROGRESS,
                      "gone": AssetStatus.FAILED, "never": AssetStatus.NEVER}
    # the failed attempt keeps the materialization it did not replace
    clean = states["clean"]
    assert clean.latest is not None and clean.latest.run_id == done and clean.run_id == failed
    assert states["warehouse/orders"].run_id == running
    assert states["never"] == AssetState(AssetStatus.NEVER, None, None)
    store.store_events([RunFailure(run_id=running, attempt=1, seq=4, timestamp=9.0,
                                   message="worker lost")])
    after = store.asset_states({"warehouse/orders": [], "low": ["split"]})
    # the run failed with its step started: that attempt failed; the multi-asset's step
    # succeeded without the asset's own: what it had stays (never)
    assert after["warehouse/orders"].status is AssetStatus.FAILED
    assert after["low"].status is AssetStatus.NEVER
    # a run that succeeded had its started steps succeed: their last events are late
    late = store.launch_run("hello_job")
    store.store_events([
        StepStart(run_id=late, attempt=1, seq=1, timestamp=10.0, step_key="clean"),
        RunSuccess(run_id=late, attempt=1, seq=4, timestamp=11.0)])
    assert store.asset_states({"clean": []})["clean"].status is AssetStatus.MATERIALIZED
