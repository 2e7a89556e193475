"""The run workers' relayed spans (:class:`~tether.wire.SpanBatch`) as one OTLP/HTTP request:
an ``ExportTraceServiceRequest`` in protobuf, one ``ResourceSpans`` per distinct resource.

The uploader encodes many runs' spans at once, so each resource is encoded once per request
rather than once per run, and the run workers need neither the SDK nor protobuf.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span, Status

from ..wire import SpanBatch, SpanRecord

# the instrumentation scope of every Tether span (the tracer's name in the other processes)
SCOPE = "tether"


def encode_span_batches(batches: Sequence[SpanBatch]) -> bytes:
    request = ExportTraceServiceRequest()
    scopes: dict[tuple[tuple[str, str], ...], ScopeSpans] = {}
    earlier: list[bytes] = []
    for batch in batches:
        if batch.otlp:
            earlier.append(batch.otlp)
        if not batch.spans:
            continue
        key = tuple(sorted(batch.resource.items()))
        scope = scopes.get(key)
        if scope is None:
            resource_spans = request.resource_spans.add()
            resource_spans.resource.attributes.extend(_key_values(_resource(key).items()))
            scope = scopes[key] = resource_spans.scope_spans.add()
            scope.scope.name = SCOPE
        scope.spans.extend(_span(record) for record in batch.spans)
    # concatenated protobuf messages parse as one whose repeated fields hold them all
    return request.SerializeToString() + b"".join(earlier)


def _span(record: SpanRecord) -> Span:
    span = Span(
        trace_id=record.trace_id, span_id=record.span_id, parent_span_id=record.parent_id,
        name=record.name, kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=record.start_ns,
        end_time_unix_nano=record.end_ns, attributes=_key_values(record.attributes.items()),
        links=[Span.Link(trace_id=trace_id, span_id=span_id)
               for trace_id, span_id in record.links])
    if record.error:
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=record.error))
    return span


@functools.lru_cache(maxsize=64)
def _resource(attributes: tuple[tuple[str, str], ...]) -> dict[str, object]:
    """The run worker's resource attributes with those the SDK adds (``telemetry.sdk.*``),
    as the SDK would have made its resource."""
    from opentelemetry.sdk.resources import Resource

    return dict(Resource.create(dict(attributes)).attributes)


def _key_values(items: Iterable[tuple[str, object]]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_any_value(value)) for key, value in items]


def _any_value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
    return AnyValue(string_value=str(value))
