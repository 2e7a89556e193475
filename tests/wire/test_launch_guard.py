"""The launch guard's holders read and write the text launchers have always stored, so guards
set before an upgrade (they live for days) are understood after it."""

from __future__ import annotations

import pytest

from tether.wire import (
    Canceled,
    EnqueuedJob,
    LaunchHolder,
    Launching,
    StartedContainer,
    StartedProcess,
    UnknownHolder,
    decode_holder,
    encode_holder,
)

# every holder with the text a launcher of the previous version stored for it
STORED: list[tuple[LaunchHolder, str]] = [
    (Launching("launcher-a:1700000000000-0"), "launching:launcher-a:1700000000000-0"),
    (StartedProcess("agent-1", 4242), "pid:agent-1:4242"),
    (EnqueuedJob("agent-1", "tether-run-r1-2"), "rq:agent-1:tether-run-r1-2"),
    (StartedContainer("agent-1", "4f1c2e"), "docker:agent-1:4f1c2e"),
    (Canceled(), "canceled"),
]


@pytest.mark.parametrize(("holder", "text"), STORED)
def test_a_holder_is_stored_as_before_and_read_back(holder: LaunchHolder, text: str) -> None:
    assert encode_holder(holder) == text
    assert decode_holder(text.encode()) == holder
    assert decode_holder(text) == holder


def test_a_job_id_with_colons_is_read_whole() -> None:
    assert decode_holder(b"rq:agent-1:job:with:colons") == EnqueuedJob("agent-1",
                                                                       "job:with:colons")


@pytest.mark.parametrize("text", ["pid:agent-1:not-a-pid", "pid:agent-1", "launching:",
                                  "rq:agent-1", "canceled:later", "docker:agent-1",
                                  "later:agent-1:abc", ""])
def test_a_holder_this_version_cannot_read_is_kept_as_it_is(text: str) -> None:
    """A newer launcher's holder: the launcher leaves the launch to it, and writes back
    nothing else."""
    holder = decode_holder(text.encode())
    assert holder == UnknownHolder(text)
    assert encode_holder(holder) == text
