"""Wire types: round trips through msgpack and JSON, schema evolution, and the exported
JSON Schemas in schemas/ staying current."""

from __future__ import annotations

import msgspec
import pytest

from tether import wire
from tether.wire import (
    AgentResult,
    ErrorInfo,
    LaunchRun,
    LocationSnapshot,
    LocationSpec,
    RunEvent,
    WorkItem,
)

from ..conftest import REPO

SPEC = LocationSpec(name="hello", module="hello.defs", working_directory="/srv/hello")

EVENTS: list[RunEvent] = [
    wire.RunStart(run_id="r", attempt=1, seq=1, timestamp=1.5, job_name="j", pid=42),
    wire.StepStart(run_id="r", attempt=1, seq=2, timestamp=1.6, step_key="a"),
    wire.LogMessage(run_id="r", attempt=1, seq=3, timestamp=1.7, step_key="a", level="INFO",
                    message="hi"),
    wire.StepFailure(run_id="r", attempt=1, seq=4, timestamp=1.8, step_key="a", duration=0.1,
                     error=ErrorInfo(class_name="ValueError", message="bad", stack="Traceback")),
    wire.RunFailure(run_id="r", attempt=1, seq=5, timestamp=1.9, message="step a failed"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: wire.event_type(e))
def test_every_event_round_trips_through_the_union(event: RunEvent) -> None:
    for codec in (msgspec.msgpack, msgspec.json):
        assert codec.decode(codec.encode(event), type=RunEvent) == event


def test_work_items_and_results_round_trip() -> None:
    item = WorkItem(work_id="w1", epoch=3, lease_until=10.0, traceparent="00-a-b-01",
                    payload=LaunchRun(run_id="r", attempt=2, job_name="j", location=SPEC,
                                      run_config={"ops": {"a": {"limit": 3}}}))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(item), type=WorkItem) == item
    result = wire.LocationLoaded(work_id="w1", epoch=1, location="hello",
                                 snapshot=LocationSnapshot(location="hello"))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(result), type=AgentResult) == result


def test_an_older_reader_ignores_fields_added_later() -> None:
    # a newer writer adds a field: the reader built from today's types must still decode it
    newer = {"type": "STEP_START", "run_id": "r", "attempt": 1, "seq": 1, "timestamp": 1.0,
             "step_key": "a", "added_in_a_later_version": {"x": 1}}
    event = msgspec.msgpack.decode(msgspec.msgpack.encode(newer), type=RunEvent)
    assert event == wire.StepStart(run_id="r", attempt=1, seq=1, timestamp=1.0, step_key="a")


def test_a_location_needs_exactly_one_of_module_and_file() -> None:
    with pytest.raises(msgspec.ValidationError, match="exactly one of `module` and `python_file`"):
        msgspec.convert({"name": "x"}, LocationSpec)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"name": "x", "module": "m", "python_file": "f.py"}, LocationSpec)


def test_event_messages_read_well() -> None:
    assert wire.event_message(EVENTS[3]) == "Step a failed: ValueError: bad"
    assert wire.event_message(EVENTS[0]) == "Started run of j (pid 42)"


def test_exported_json_schemas_are_current() -> None:
    documents = wire.schema_documents()
    stale = [name for name, text in documents.items()
             if not (REPO / "schemas" / name).exists()
             or (REPO / "schemas" / name).read_text() != text]
    assert not stale, f"run scripts/export-schemas: stale {stale}"
