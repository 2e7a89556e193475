"""One trace per run across every process: the real deployment exports its spans over OTLP
to a receiver the test runs, and one trace links the launch, the poller, the launcher, the
run worker with its steps, the uploader and the control plane's store, parent to child."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .deployment import LAUNCH, RUN_STATUS, Deployment, deployed, one_location, wait_loaded
from .otlp import OtlpReceiver, ReceivedSpan


@pytest.fixture
def traced(tmp_path: Path, broker_url: str, receiver: OtlpReceiver) -> Iterator[Deployment]:
    with deployed(redis_url=broker_url, data_dir=tmp_path,
                  env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                       "OTEL_BSP_SCHEDULE_DELAY": "100"}) as deployment:
        wait_loaded(deployment)
        yield deployment


def test_one_trace_follows_a_run_through_every_process(traced: Deployment,
                                                       receiver: OtlpReceiver) -> None:
    run_id = traced.graphql(LAUNCH, job="hello_job")["launchRun"]["id"]
    traced.wait_for(lambda: traced.graphql(RUN_STATUS, id=run_id)["run"]["status"] == "SUCCESS",
                    what="run SUCCESS")

    def trace() -> list[ReceivedSpan] | None:
        spans = receiver.snapshot()
        launch = [s for s in spans if s.name == "launchRun"]
        if not launch:
            return None
        ours = [s for s in spans if s.trace_id == launch[0].trace_id]
        names = {s.name for s in ours}
        wanted = {"launchRun", "poller.hand_over", "launcher.launch", "run_worker.execute",
                  "step", "uploader.events", "store events"}
        # spans arrive in each process's own batches: wait until every stored batch's upload
        # is in too
        uploads = {s.span_id for s in ours if s.name == "uploader.events"}
        stored = {s.parent_id for s in ours if s.name == "store events"}
        return ours if wanted <= names and stored <= uploads else None

    spans = traced.wait_for(trace, timeout=30, what="the run's whole trace")

    def one(name: str) -> ReceivedSpan:
        [span] = [s for s in spans if s.name == name]
        return span

    api, poller, launcher = one("launchRun"), one("poller.hand_over"), one("launcher.launch")
    worker = one("run_worker.execute")
    assert (api.service, poller.service, launcher.service, worker.service) == (
        "tether-control-plane", "tether-poller", "tether-launcher", "tether-run-worker")
    assert poller.parent_id == api.span_id
    assert launcher.parent_id == poller.span_id
    assert worker.parent_id == launcher.span_id
    assert worker.attributes["tether.run_id"] == run_id

    steps = [s for s in spans if s.name == "step"]
    assert sorted(s.attributes["tether.step"] for s in steps) == ["extract", "load", "transform"]
    assert {s.parent_id for s in steps} == {worker.span_id}

    # the run's events are uploaded under the run worker's span, and stored under the upload
    uploads = [s for s in spans if s.name == "uploader.events"]
    assert uploads and {s.service for s in uploads} == {"tether-uploader"}
    assert all(s.parent_id == worker.span_id for s in uploads)
    stores = [s for s in spans if s.name == "store events"]
    assert {s.parent_id for s in stores} <= {s.span_id for s in uploads}
    assert stores[0].service == "tether-control-plane"


def test_a_code_location_load_is_one_trace_into_the_code_server(
        traced: Deployment, receiver: OtlpReceiver) -> None:
    def load_trace() -> list[ReceivedSpan] | None:
        spans = receiver.snapshot()
        served = [s for s in spans if s.name == "code_server.get_snapshot"]
        loads = [s for s in spans if s.name == "supervisor.load"]
        # the upload of the load's result ends (and is exported) a moment after the load
        uploads = [s for s in spans if s.name == "uploader.results"
                   and any(s.trace_id == load.trace_id for load in loads)]
        return spans if served and loads and uploads else None

    spans = traced.wait_for(load_trace, timeout=30, what="the load's spans")
    [load] = [s for s in spans if s.name == "supervisor.load"]
    [served] = [s for s in spans if s.name == "code_server.get_snapshot"]
    assert (load.service, served.service) == ("tether-supervisor", "tether-code-server")
    assert served.trace_id == load.trace_id and served.parent_id != ""
    assert served.attributes["tether.location"] == "hello"
    # the load answers the work item the control plane created at deploy time
    results = [s for s in spans if s.name == "uploader.results" and s.trace_id == load.trace_id]
    assert results and results[0].parent_id == load.span_id


SENSING = '''
from tether import Definitions, RunRequest, job, op, sensor


@op
def noop() -> None:
    pass


@job
def sensed_job() -> None:
    noop()


@sensor(job=sensed_job, minimum_interval_seconds=0.3, default_running=True)
def always(context):
    return RunRequest(run_key="once")


defs = Definitions(jobs=[sensed_job], sensors=[always])
'''


def test_a_sensor_tick_is_one_trace_into_the_code_server(
        tmp_path: Path, broker_url: str, receiver: OtlpReceiver) -> None:
    workspace = one_location(tmp_path, "sensing", SENSING, python_file="sensing.py")
    with deployed(
            redis_url=broker_url, workspace=workspace, data_dir=tmp_path,
            processes=("control-plane", "daemons", "poller", "supervisor", "uploader"),
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                 "OTEL_BSP_SCHEDULE_DELAY": "100", "TETHER_DAEMON_INTERVAL_SECONDS": "0.2"}
    ) as deployment:
        def tick_trace() -> list[ReceivedSpan] | None:
            spans = receiver.snapshot()
            for turn in (s for s in spans if s.name == "scheduler.ticks"):
                ours = [s for s in spans if s.trace_id == turn.trace_id]
                names = {s.name for s in ours}
                if {"supervisor.sensor_tick", "code_server.sensor_tick", "uploader.results",
                        "store results"} <= names:
                    return ours
            return None

        spans = deployment.wait_for(tick_trace, timeout=30, what="a sensor tick's trace")
    [turn] = [s for s in spans if s.name == "scheduler.ticks"]
    assert turn.service == "tether-daemons"
    by_name = {s.name: s for s in spans}
    handed = by_name["poller.hand_over"]
    supervisor = by_name["supervisor.sensor_tick"]
    served = by_name["code_server.sensor_tick"]
    assert handed.parent_id == turn.span_id
    assert supervisor.parent_id == handed.span_id and supervisor.service == "tether-supervisor"
    assert served.parent_id == supervisor.span_id and served.service == "tether-code-server"
    assert served.attributes["tether.sensor"] == "always"
    assert by_name["uploader.results"].parent_id == supervisor.span_id
