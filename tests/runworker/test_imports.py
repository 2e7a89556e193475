"""A run worker imports of the broker only what it writes its output with: every import is
paid again on each cold start, and each zygote holds it in every fork."""

from __future__ import annotations

import subprocess
import sys

# what `tether api execute-run` imports (the command line, then the run worker), what a warm
# zygote imports, and the job function RQ workers import
PROBE = """
import sys
import tether.cli
import tether.runworker
import tether.runworker._zygote
print(repr(sorted(m for m in sys.modules if m.startswith(("tether.broker", "tether.agent")))))
"""

ALLOWED = ["tether.broker", "tether.broker._keys", "tether.broker._messages",
           "tether.broker._writer"]


def test_a_run_worker_imports_only_the_stream_writer_and_the_keys_of_the_broker() -> None:
    output = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                            check=True).stdout
    # not the consumer, the dead letters, the broker users, the embedded broker, the agent
    assert eval(output) == ALLOWED


def test_the_broker_package_still_exports_every_name() -> None:
    import tether.broker

    for name in tether.broker.__all__:
        assert getattr(tether.broker, name) is not None, name
    from tether.broker import EmbeddedBroker, StreamConsumer, keys

    assert keys.WORK_RUNS and StreamConsumer.__module__ == "tether.broker._consumer"
    assert EmbeddedBroker.__module__ == "tether.broker._embedded"
