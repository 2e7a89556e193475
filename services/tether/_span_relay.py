"""Spans of short-lived processes (run workers) relayed through the agent's broker.

The run worker keeps its finished spans and, when it ends, writes them to
``tether:out:spans`` as one OTLP request (protobuf); the uploader sends them on to the
OpenTelemetry endpoint, batched with other runs' spans. The run worker thus talks to Redis
only, as it does for its events and logs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import redis
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from redis.exceptions import RedisError

from .broker import entry_fields, keys
from .wire import SpanBatch


class BrokerSpanRelay(SpanExporter):
    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        if not self.spans:
            return True
        request = encode_spans(self.spans).SerializeToString()
        client: Any = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        try:
            client.xadd(keys.OUT_SPANS, entry_fields(SpanBatch(otlp=request)))
        except RedisError as exc:
            # traces are best-effort: the run's events and logs are what must not be lost
            os.write(sys.stderr.fileno(),
                     f"tether: {len(self.spans)} span(s) not relayed: {exc}\n".encode())
            return False
        finally:
            client.close()
        self.spans.clear()
        return True

    def shutdown(self) -> None:
        self.force_flush()
