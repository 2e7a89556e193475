"""A small OTLP/HTTP receiver for tests: real processes export their spans to it, as they
would to an OpenTelemetry Collector."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, str]
    links: tuple[str, ...]


@dataclass
class ReceivedMetric:
    """A metric as exported: its kind (sum, gauge, histogram), unit, and its latest total
    per service (the sum of a sum's data points, a histogram's count, a gauge's values)."""

    name: str
    kind: str
    unit: str
    monotonic: bool
    totals: dict[str, float]


class OtlpReceiver:
    """Accepts ``POST /v1/traces`` and ``/v1/metrics`` (protobuf) on 127.0.0.1 and keeps every
    span and the latest figures of every metric."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.metrics: dict[str, ReceivedMetric] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.path == "/v1/traces":
                    receiver._receive(body)
                elif self.path == "/v1/metrics":
                    receiver._receive_metrics(body)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            service = next((a.value.string_value for a in resource_spans.resource.attributes
                            if a.key == "service.name"), "")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(ReceivedSpan(
                        service=service, name=span.name, trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(), parent_id=span.parent_span_id.hex(),
                        attributes={a.key: str(_value(a.value)) for a in span.attributes},
                        links=tuple(link.span_id.hex() for link in span.links)))
        with self._lock:
            self.spans.extend(received)

    def _receive_metrics(self, body: bytes) -> None:
        request = ExportMetricsServiceRequest.FromString(body)
        for resource_metrics in request.resource_metrics:
            service = next((a.value.string_value for a in resource_metrics.resource.attributes
                            if a.key == "service.name"), "")
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    data = getattr(metric, kind)
                    if kind == "histogram":
                        total = float(sum(p.count for p in data.data_points))
                    else:
                        total = sum(p.as_double or p.as_int for p in data.data_points)
                    with self._lock:
                        received = self.metrics.setdefault(metric.name, ReceivedMetric(
                            name=metric.name, kind=kind, unit=metric.unit,
                            monotonic=kind == "sum" and data.is_monotonic, totals={}))
                        received.totals[service] = total

    def metric_total(self, name: str) -> float:
        """The latest total of metric ``name`` over every service (0 if never exported)."""
        with self._lock:
            metric = self.metrics.get(name)
            return sum(metric.totals.values()) if metric else 0.0

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _value(value: object) -> object:
    kind = value.WhichOneof("value")  # type: ignore[attr-defined]
    return getattr(value, kind) if kind else ""
