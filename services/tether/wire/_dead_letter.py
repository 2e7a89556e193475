from __future__ import annotations

import msgspec


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """A stream entry a consumer could not handle, kept with the reason instead of dropped."""

    stream: str
    entry_id: str
    group: str
    consumer: str
    error: str
    deliveries: int
    fields: dict[str, bytes]
    timestamp: float
