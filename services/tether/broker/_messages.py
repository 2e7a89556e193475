"""Encoding of stream entries, shared by the async consumers and the run worker's sync writer."""

from __future__ import annotations

from typing import Any

import msgspec

from ._keys import FIELD_MESSAGE, FIELD_TRACEPARENT

_encoder = msgspec.msgpack.Encoder()


def entry_fields(message: Any, traceparent: str = "") -> dict[bytes, bytes]:
    """The fields of the stream entry that carries ``message``."""
    return {FIELD_MESSAGE: _encoder.encode(message), FIELD_TRACEPARENT: traceparent.encode()}
