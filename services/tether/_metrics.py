"""The metrics of the agent workers and the control plane (OpenTelemetry metrics API).

Recording is next to free until :func:`tether._telemetry.configure` installs a meter provider
that exports. Run workers never import this module (the API costs ~40 ms to import).

Names as the Collector's Prometheus exporter shows them: dots become underscores, counters
get ``_total``, a unit of seconds or bytes a ``_seconds`` or ``_bytes`` suffix
(``deploy/grafana/tether.json`` queries them so; a test checks the two agree).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation

_meter = metrics.get_meter("tether")


@dataclass(frozen=True)
class Defined:
    name: str
    kind: Literal["counter", "histogram", "gauge"]
    unit: str


# every metric Tether emits, for the dashboard's check
DEFINED: list[Defined] = []


def _counter(name: str, *, unit: str, description: str) -> Counter:
    DEFINED.append(Defined(name, "counter", unit))
    return _meter.create_counter(name, unit=unit, description=description)


def _histogram(name: str, *, unit: str, description: str) -> Histogram:
    DEFINED.append(Defined(name, "histogram", unit))
    return _meter.create_histogram(name, unit=unit, description=description)


@dataclass(frozen=True)
class Gauge:
    """An observable gauge, registered by the worker that can read it."""

    name: str
    unit: str
    description: str

    def __post_init__(self) -> None:
        DEFINED.append(Defined(self.name, "gauge", self.unit))


# poller
CLAIM_LATENCY = _histogram(
    "tether.work.claim.latency", unit="s",
    description="From a work item's enqueue on the control plane to its claim by an agent")
WORK_CLAIMED = _counter(
    "tether.work.claimed", unit="{item}", description="Work items claimed, by kind")

# launcher
LAUNCH_LATENCY = _histogram(
    "tether.launch.latency", unit="s",
    description="From a launch's claim to its run worker started (or its RQ job enqueued)")
RUNS_EXITED = _counter(
    "tether.runs.exited", unit="{run}",
    description="Run workers that ended, by outcome (succeeded, failed, interrupted, crashed)")

# uploader
UPLOADED = _counter(
    "tether.upload.entries", unit="{entry}",
    description="Stream entries the control plane stored, by stream")
LOG_BYTES = _counter(
    "tether.upload.log", unit="By", description="Bytes of stdout/stderr uploaded")
BATCH_SIZE = _histogram(
    "tether.upload.batch.size", unit="{entry}", description="Entries per upload batch")
UPLOAD_RETRIES = _counter(
    "tether.upload.retries", unit="{batch}",
    description="Upload attempts deferred (control plane unreachable, 429, 5xx)")
UPLOAD_REJECTED = _counter(
    "tether.upload.rejected", unit="{entry}",
    description="Entries the control plane rejected as from a superseded attempt (fencing)")

# every consumer
DEAD_LETTERS = _counter(
    "tether.dead_letters", unit="{entry}",
    description="Entries moved to the dead-letter stream, by stream")

# supervisor
CODE_SERVER_RESTARTS = _counter(
    "tether.code_server.restarts", unit="{restart}",
    description="Code servers restarted after they died, by location")

# control plane
REQUEST_DURATION = _histogram(
    "tether.control_plane.request.duration", unit="s",
    description="Control-plane request handling time, by operation")


STREAM_LENGTH = Gauge("tether.stream.length", "{entry}", "Entries in each agent stream")
STREAM_PENDING = Gauge("tether.stream.pending", "{entry}",
                       "Entries delivered to a consumer group, not yet acknowledged")
STREAM_LAG = Gauge("tether.stream.lag", "{entry}", "Entries not yet delivered to a group")
CODE_SERVERS_RUNNING = Gauge("tether.code_servers.running", "{server}",
                             "A supervisor's code servers by location, 1 while running")


def observe(gauge: Gauge, read: Callable[[], Iterable[tuple[float, dict[str, str]]]]) -> None:
    """Report ``gauge`` with the (value, attributes) pairs ``read`` gives when the metrics are
    exported; ``read`` runs on the exporter's thread, so it returns what the worker cached."""

    def callback(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, attributes) for value, attributes in read()]

    _meter.create_observable_gauge(gauge.name, callbacks=[callback], unit=gauge.unit,
                                   description=gauge.description)
