"""A run worker's spans, recorded without the OpenTelemetry SDK, relayed as a SpanBatch and
encoded by the uploader: what reaches the collector is what the SDK would have sent (a tree
under the launcher's span, the resource of the run worker, errors as error statuses)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from tether._span_relay import SpanRecorder
from tether._telemetry import resource_attributes
from tether.agent._otlp import encode_span_batches
from tether.broker import entry_fields, keys
from tether.wire import SpanBatch

TRACE = "0af7651916cd43dd8448eb211c80319c"
LAUNCHER = f"00-{TRACE}-b7ad6b7169203331-01"


def record(parent: str) -> tuple[list[SpanBatch], list[str]]:
    batches: list[SpanBatch] = []
    recorder = SpanRecorder(batches.append, resource_attributes(
        "tether-run-worker", env={"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci"}))
    traceparents = []
    with recorder.span("run_worker.execute", parent=parent,
                       attributes={"tether.run_id": "r1", "tether.attempt": 1}) as run:
        traceparents.append(run)
        for step in ("extract", "load"):
            with recorder.span("step", attributes={"tether.step": step}) as inner:
                traceparents.append(inner)
                assert recorder.current_traceparent() == inner
        with pytest.raises(KeyboardInterrupt), recorder.span("step",
                                                             attributes={"tether.step": "x"}):
            raise KeyboardInterrupt("received signal SIGTERM")
    recorder.flush()
    return batches, traceparents


def exported(batches: list[SpanBatch]) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(encode_span_batches(batches))


def test_the_spans_reach_the_collector_as_a_tree_under_the_launchers_span() -> None:
    batches, traceparents = record(LAUNCHER)
    assert len(batches) == 1
    # the batch travels as a stream entry
    assert len(entry_fields(batches[0])[keys.FIELD_MESSAGE]) < 1000

    [resource_spans] = exported(batches).resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "tether-run-worker"
    assert resource["deployment.environment"] == "ci"
    assert resource["telemetry.sdk.language"] == "python"
    [scope] = resource_spans.scope_spans
    assert scope.scope.name == "tether"
    spans = {span.span_id.hex(): span for span in scope.spans}
    run = next(s for s in spans.values() if s.name == "run_worker.execute")
    assert run.trace_id.hex() == TRACE and run.parent_span_id.hex() == "b7ad6b7169203331"
    assert traceparents[0] == f"00-{TRACE}-{run.span_id.hex()}-01"
    assert {a.key: (a.value.string_value or a.value.int_value) for a in run.attributes} == {
        "tether.run_id": "r1", "tether.attempt": 1}
    steps = [s for s in spans.values() if s.name == "step"]
    assert len(steps) == 3
    assert {s.parent_span_id for s in steps} == {run.span_id}
    assert all(run.start_time_unix_nano <= s.start_time_unix_nano <= s.end_time_unix_nano
               <= run.end_time_unix_nano for s in steps)
    [failed] = [s for s in steps if s.status.code == Status.STATUS_CODE_ERROR]
    assert failed.status.message == "KeyboardInterrupt: received signal SIGTERM"
    assert run.status.code == Status.STATUS_CODE_UNSET


def test_runs_of_several_batches_share_one_request_and_one_resource() -> None:
    first, _ = record(LAUNCHER)
    second, _ = record(f"00-{'1' * 32}-{'2' * 16}-01")
    request = exported(first + second)
    [resource_spans] = request.resource_spans
    assert {s.trace_id.hex() for s in resource_spans.scope_spans[0].spans} == {TRACE, "1" * 32}


def test_a_parent_that_is_not_sampled_records_nothing_but_passes_the_trace_on() -> None:
    batches, traceparents = record(f"00-{TRACE}-b7ad6b7169203331-00")
    assert batches == []
    assert all(tp.startswith(f"00-{TRACE}-") and tp.endswith("-00") for tp in traceparents)
    assert len(set(traceparents)) == len(traceparents)


@pytest.mark.parametrize("parent", ["", "garbage", f"00-{'0' * 32}-b7ad6b7169203331-01",
                                    f"00-{TRACE.upper()}-b7ad6b7169203331-01"])
def test_without_a_valid_parent_the_run_starts_a_trace(parent: str) -> None:
    batches, traceparents = record(parent)
    spans = exported(batches).resource_spans[0].scope_spans[0].spans
    run = next(s for s in spans if s.name == "run_worker.execute")
    assert run.parent_span_id == b"" and run.trace_id.hex() != TRACE
    assert traceparents[0] == f"00-{run.trace_id.hex()}-{run.span_id.hex()}-01"


def test_links_name_the_linked_spans() -> None:
    batches: list[SpanBatch] = []
    recorder = SpanRecorder(batches.append, {"service.name": "x"})
    other = f"00-{'3' * 32}-{'4' * 16}-01"
    with recorder.span("upload", parent=LAUNCHER, links=[other, "bad"]):
        pass
    recorder.flush()
    [span] = exported(batches).resource_spans[0].scope_spans[0].spans
    assert [(link.trace_id.hex(), link.span_id.hex()) for link in span.links] == [
        ("3" * 32, "4" * 16)]


def test_spans_from_run_workers_of_an_earlier_version_are_sent_along() -> None:
    earlier, _ = record(f"00-{'5' * 32}-{'6' * 16}-01")
    # what those run workers sent: the request as protobuf
    legacy = SpanBatch(otlp=encode_span_batches(earlier))
    current, _ = record(LAUNCHER)
    request = exported([legacy, *current])
    traces = {s.trace_id.hex() for rs in request.resource_spans
              for s in rs.scope_spans[0].spans}
    assert traces == {"5" * 32, TRACE}


RUN_WORKER = f"""
import sys
from tether import _telemetry as telemetry

batches = []
telemetry.configure("tether-run-worker", metrics=False, relay=batches.append)
with telemetry.span("run_worker.execute", parent="{LAUNCHER}") as run:
    with telemetry.span("step", attributes={{"tether.step": "one"}}):
        assert telemetry.current_traceparent() != run
    assert telemetry.current_traceparent() == run
telemetry.shutdown()
assert [span.name for span in batches[0].spans] == ["step", "run_worker.execute"], batches
print(sorted(name for name in sys.modules
             if name.startswith(("opentelemetry", "google.protobuf"))))
"""


def test_a_run_worker_records_its_spans_without_importing_opentelemetry() -> None:
    """Importing the SDK costs a cold run worker ~45 ms, and a forked one the pages it
    touches."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_WORKER], capture_output=True, text=True, check=True,
        env={**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert done.stdout.strip() == "[]"
