"""Encoders and typed decoders for the wire types the store keeps in columns, built once."""

from __future__ import annotations

from typing import Any

import msgspec

from tether.wire import ErrorInfo, LocationSnapshot, LocationSpec, RunEvent, WorkPayload

encode = msgspec.msgpack.Encoder().encode
encode_json = msgspec.json.Encoder().encode

payload_decoder = msgspec.msgpack.Decoder(WorkPayload)
spec_decoder = msgspec.msgpack.Decoder(LocationSpec)
snapshot_decoder = msgspec.msgpack.Decoder(LocationSnapshot)
event_decoder = msgspec.msgpack.Decoder(RunEvent)


class CheckOutcome(msgspec.Struct, frozen=True):
    """What the check summaries read of a stored ASSET_CHECK_EVALUATION body; the rest (its
    metadata above all) is skipped without being decoded."""

    passed: bool
    severity: str = "ERROR"


outcome_decoder = msgspec.msgpack.Decoder(CheckOutcome)
error_decoder = msgspec.msgpack.Decoder(ErrorInfo)
error_json_decoder = msgspec.json.Decoder(ErrorInfo)
dict_json_decoder = msgspec.json.Decoder(dict[str, Any])
list_json_decoder = msgspec.json.Decoder(list[str])
pairs_json_decoder = msgspec.json.Decoder(list[tuple[str, str]])


def storable_text(value: str) -> str:
    """``value`` without NUL characters, which PostgreSQL text columns cannot hold (a run's
    output may contain them); each becomes U+FFFD, as undecodable bytes do."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def to_json_text(value: Any) -> str:
    return encode_json(value).decode()


def error_from_json(text: str | None) -> ErrorInfo | None:
    return None if text is None else error_json_decoder.decode(text)


def steps_to_json(steps: list[str] | None) -> str | None:
    """A step selection as its column holds it (NULL: every step)."""
    return None if steps is None else to_json_text(steps)


def steps_from_json(text: str | None) -> list[str] | None:
    return None if text is None else list_json_decoder.decode(text)


def input_runs_to_json(input_runs: dict[str, str]) -> str | None:
    return to_json_text(input_runs) if input_runs else None


def input_runs_from_json(text: str | None) -> dict[str, str]:
    return {} if text is None else dict(dict_json_decoder.decode(text))
