"""Encoding of stream entries, shared by the async consumers and the run worker's sync writer."""

from __future__ import annotations

from typing import Any

import msgspec

from ._keys import FIELD_DEPLOYMENT, FIELD_MESSAGE, FIELD_TRACEPARENT

_encoder = msgspec.msgpack.Encoder()


def entry_fields(message: Any, traceparent: str = "", deployment: str = "") -> dict[bytes, bytes]:
    """The fields of the stream entry that carries ``message`` (of the work of
    ``deployment``; "": the agent's first token's)."""
    fields = {FIELD_MESSAGE: _encoder.encode(message), FIELD_TRACEPARENT: traceparent.encode()}
    if deployment:
        fields[FIELD_DEPLOYMENT] = deployment.encode()
    return fields
