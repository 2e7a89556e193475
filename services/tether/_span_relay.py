"""Spans of short-lived processes (run workers) relayed through the agent's broker.

The run worker keeps its finished spans and, when it ends, hands them as one OTLP request
(protobuf) to its stream writer, which appends them to ``tether:out:spans`` behind the run's
last events; the uploader sends them on to the OpenTelemetry endpoint, batched with other
runs' spans. The run worker thus talks to Redis only, over the one connection its events and
logs use, and spends no thread and no request of its own on its traces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .wire import SpanBatch


class SpanRelay(SpanExporter):
    def __init__(self, send: Callable[[SpanBatch], None]) -> None:
        self.send = send
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        if self.spans:
            self.send(SpanBatch(otlp=encode_spans(self.spans).SerializeToString()))
            self.spans.clear()
        return True

    def shutdown(self) -> None:
        self.force_flush()
