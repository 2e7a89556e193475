"""Spans of short-lived processes (run workers), recorded without the OpenTelemetry SDK and
relayed through the agent's broker.

A run worker makes a handful of spans and exits. The SDK would cost it far more than the
spans are worth: a tracer provider to set up in every fork, ~0.4 ms per span on pages the
fork has never touched, and an OTLP encoding at exit. :class:`SpanRecorder` keeps only what
OTLP needs (ids, parent, times, attributes, links, error) as :class:`~tether.wire.SpanRecord`
structs and, when the run ends, hands them as one :class:`~tether.wire.SpanBatch` to the run
worker's stream writer, which appends it to ``tether:out:spans`` behind the run's last
events. The uploader turns the batches into OTLP and sends them on, many runs per request.
No thread, no connection and no OpenTelemetry import in the run worker.

Sampling follows the parent, as the SDK's default ``parentbased_always_on`` sampler does: a
span whose parent is not sampled is not recorded, but its traceparent (a new span id, the
flag unset) still goes on to the next hop. A span without a parent starts a sampled trace.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from .wire import SpanBatch, SpanRecord

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")


class _Context(NamedTuple):
    trace_id: bytes
    span_id: bytes
    sampled: bool

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id.hex()}-{self.span_id.hex()}-{'01' if self.sampled else '00'}"


# the span each thread or task is in
_current: ContextVar[_Context | None] = ContextVar("tether_span", default=None)


class SpanRecorder:
    def __init__(self, send: Callable[[SpanBatch], None], resource: Mapping[str, str]) -> None:
        self._send = send
        self._resource = dict(resource)
        self._spans: list[SpanRecord] = []

    @contextmanager
    def span(self, name: str, *, parent: str = "", links: Sequence[str] = (),
             attributes: Mapping[str, str | int | float | bool] | None = None) -> Iterator[str]:
        """A span named ``name``, child of the ``parent`` traceparent (or of the current
        span); yields its own traceparent."""
        up = _parse(parent) if parent else _current.get()
        if up is None:
            trace_id, parent_id, sampled = _new_id(16), b"", True
        else:
            trace_id, parent_id, sampled = up.trace_id, up.span_id, up.sampled
        context = _Context(trace_id, _new_id(8), sampled)
        token = _current.set(context)
        start = time.time_ns()
        error = ""
        try:
            yield context.traceparent
        except BaseException as exc:
            # as the SDK describes the status of a span that an exception ended
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            _current.reset(token)
            if sampled:
                linked = [(c.trace_id, c.span_id) for c in map(_parse, links) if c is not None]
                self._spans.append(SpanRecord(
                    name=name, trace_id=trace_id, span_id=context.span_id, parent_id=parent_id,
                    start_ns=start, end_ns=time.time_ns(), attributes=dict(attributes or {}),
                    links=linked, error=error))

    def current_traceparent(self) -> str:
        context = _current.get()
        return "" if context is None else context.traceparent

    def flush(self) -> None:
        """Hand the spans recorded so far to ``send``, as one batch."""
        if self._spans:
            self._send(SpanBatch(spans=self._spans, resource=self._resource))
            self._spans = []


def _parse(traceparent: str) -> _Context | None:
    """The context a W3C ``traceparent`` names; None when it is not a valid one (as with the
    SDK's propagator, the span then starts a trace of its own)."""
    match = _TRACEPARENT.fullmatch(traceparent.strip())
    if match is None:
        return None
    version, trace_hex, span_hex, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id, span_id = bytes.fromhex(trace_hex), bytes.fromhex(span_hex)
    if not any(trace_id) or not any(span_id):
        return None
    return _Context(trace_id, span_id, bool(int(flags, 16) & 1))


def _new_id(size: int) -> bytes:
    # random is reseeded in every fork, so forked run workers do not repeat each other's ids
    # (the SDK's id generator relies on the same)
    while True:
        bits = random.getrandbits(8 * size)
        if bits:
            return bits.to_bytes(size, "big")
