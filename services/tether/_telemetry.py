"""Traces: one trace per run across every process, carried as W3C ``traceparent`` strings.

Work items, stream entries, the run worker's environment and HTTP and gRPC requests carry the
``traceparent`` of the span that sent them; each hop opens a child span with :func:`span` and
passes on the ``traceparent`` it yields. Export is off unless the standard OpenTelemetry
variables ask for it (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
``OTEL_TRACES_EXPORTER=otlp|console``): then the SDK sends spans over OTLP/HTTP, or prints them.
While off, OpenTelemetry is not even imported (it costs a run worker ~45 ms) and :func:`span`
hands the parent's ``traceparent`` through unchanged, so the context still reaches every hop.
"""

from __future__ import annotations

import functools
import os
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .wire import SpanBatch

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_provider: Any = None
_meter_provider: Any = None


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    """Whether this process exports spans (the standard ``OTEL_*`` variables say so)."""
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none" or env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return exporter in ("otlp", "console") or any(env.get(v) for v in _ENDPOINT_VARIABLES)


def configure(service: str, *, agent_id: str = "", metrics: bool = True,
              relay: Callable[[SpanBatch], None] | None = None) -> None:
    """Export this process's spans (and, with ``metrics``, its metrics) as ``service``
    (``tether-poller``, ...), when enabled. Call it after any fork: exporters run threads.

    With ``relay`` (a run worker's), OTLP spans are not sent from this process: they are
    kept until :func:`shutdown` and handed to ``relay`` as one batch, which the run worker
    writes to ``tether:out:spans`` for the uploader to send on. A short-lived process then
    spends no thread, no connection to the collector and no HTTP request on its traces."""
    global _provider
    if not enabled() or _provider is not None:
        return
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=_resource(service, agent_id))
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif relay is not None:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        from ._span_relay import SpanRelay

        provider.add_span_processor(SimpleSpanProcessor(SpanRelay(relay)))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    if metrics:
        _configure_metrics(provider.resource)


@functools.cache
def _resource(service: str, agent_id: str) -> Any:
    """The process's OpenTelemetry resource; made once (detecting the environment's resource
    attributes takes a millisecond or two), before the fork in a zygote."""
    from opentelemetry.sdk.resources import Resource

    attributes = {"service.name": service, **({"tether.agent_id": agent_id} if agent_id else {})}
    return Resource.create(attributes)


def _configure_metrics(resource: Any) -> None:
    global _meter_provider
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricExporter,
        PeriodicExportingMetricReader,
    )

    exporter: MetricExporter
    if os.environ.get("OTEL_METRICS_EXPORTER", "").strip().lower() == "console":
        exporter = ConsoleMetricExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter()
    _meter_provider = MeterProvider(resource=resource,
                                    metric_readers=[PeriodicExportingMetricReader(exporter)])
    metrics.set_meter_provider(_meter_provider)


def otlp_traces_target(env: Mapping[str, str] = os.environ) -> tuple[str, dict[str, str]] | None:
    """Where spans go over OTLP/HTTP, and the headers to send (``OTEL_EXPORTER_OTLP_HEADERS``);
    None when spans are not exported over OTLP."""
    if not enabled(env) or env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        return None
    url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318").rstrip("/")
        + "/v1/traces")
    headers = {"content-type": "application/x-protobuf"}
    for pair in env.get("OTEL_EXPORTER_OTLP_HEADERS", "").split(","):
        name, _, value = pair.partition("=")
        if name.strip():
            headers[urllib.parse.unquote(name.strip())] = urllib.parse.unquote(value.strip())
    return url, headers


def preload(service: str) -> None:
    """Import and make what :func:`configure` needs for ``service``, without starting
    anything: a process that forks run workers calls it, so that its children configure
    export in a moment."""
    if enabled():
        import opentelemetry.sdk.trace.export
        import opentelemetry.trace.propagation.tracecontext  # noqa: F401

        from . import _span_relay  # noqa: F401

        _resource(service, "")


def flush() -> None:
    """Send the spans still buffered (before a short-lived process exits)."""
    if _provider is not None:
        _provider.force_flush()


def shutdown() -> None:
    global _provider, _meter_provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None
    if _meter_provider is not None:
        _meter_provider.shutdown()
        _meter_provider = None


def current_traceparent() -> str:
    """The traceparent of the current span ("" while export is off or outside a span)."""
    if _provider is None:
        return ""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def span(name: str, *, parent: str = "", links: Sequence[str] = (),
         attributes: Mapping[str, str | int | float | bool] | None = None) -> Iterator[str]:
    """A span named ``name``, child of the ``parent`` traceparent (or of the current span),
    linked to the spans of ``links``; yields its own traceparent to send on. While export is
    off, yields ``parent`` (or the current traceparent)."""
    if _provider is None:
        yield parent
        return
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    context = propagator.extract({"traceparent": parent}) if parent else None
    span_links = [trace.Link(trace.get_current_span(propagator.extract({"traceparent": tp}))
                             .get_span_context()) for tp in links if tp and tp != parent]
    tracer = trace.get_tracer("tether")
    with tracer.start_as_current_span(name, context=context, links=span_links,
                                      attributes=dict(attributes or {})):
        carrier: dict[str, str] = {}
        propagator.inject(carrier)
        yield carrier.get("traceparent", parent)


@contextmanager
def sibling_spans(spans: Sequence[tuple[str, str, Mapping[str, str | int | float | bool]]]
                  ) -> Iterator[list[str]]:
    """A span per ``(name, parent traceparent, attributes)``, for items handled as one batch:
    none becomes the current span, so they stay side by side; yields their traceparents, in
    order. While export is off, yields the parents."""
    if _provider is None:
        yield [parent for _, parent, _ in spans]
        return
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    tracer = trace.get_tracer("tether")
    opened = []
    traceparents = []
    for name, parent, attributes in spans:
        context = propagator.extract({"traceparent": parent}) if parent else None
        opened.append(tracer.start_span(name, context=context, attributes=dict(attributes)))
        carrier: dict[str, str] = {}
        propagator.inject(carrier, context=trace.set_span_in_context(opened[-1]))
        traceparents.append(carrier.get("traceparent", parent))
    try:
        yield traceparents
    except BaseException as exc:
        for opened_span in opened:
            opened_span.record_exception(exc)
            opened_span.set_status(Status(StatusCode.ERROR, str(exc)))
        raise
    finally:
        for opened_span in opened:
            opened_span.end()
