"""What an op or asset may return besides a plain value: ``Output(value, metadata=...)`` and,
for an asset that stores its data itself, ``MaterializeResult(metadata=...)``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple


class Output:
    """An output value with metadata about it: ``return Output(df, metadata={"rows": n})``;
    an op with several outputs yields ``Output(value, output_name="a")`` for each it makes."""

    __slots__ = ("metadata", "output_name", "value")

    def __init__(self, value: Any, output_name: str | None = None, *,
                 metadata: Mapping[str, Any] | None = None) -> None:
        self.value = value
        # None: the op's only output
        self.output_name = output_name
        self.metadata: Mapping[str, Any] = metadata or {}

    def __repr__(self) -> str:
        name = "" if self.output_name is None else f", output_name={self.output_name!r}"
        return f"Output({self.value!r}{name}, metadata={dict(self.metadata)!r})"


class DynamicOutput(Output):
    """One of the values of a ``DynamicOut``: ``yield DynamicOutput(v, mapping_key="a")``.
    Each becomes a copy of the steps mapped over the output, keyed ``step[mapping_key]``."""

    __slots__ = ("mapping_key",)

    def __init__(self, value: Any, mapping_key: str, output_name: str | None = None, *,
                 metadata: Mapping[str, Any] | None = None) -> None:
        super().__init__(value, output_name, metadata=metadata)
        self.mapping_key = mapping_key

    def __repr__(self) -> str:
        return f"DynamicOutput({self.value!r}, mapping_key={self.mapping_key!r})"


class MaterializeResult:
    """What an asset that wrote its data itself returns: the materialization's metadata,
    and the results of its ``check_specs`` (``AssetCheckResult`` s). Nothing is handed to an
    IO manager, so no step can take the asset's value."""

    __slots__ = ("check_results", "metadata")

    def __init__(self, *, metadata: Mapping[str, Any] | None = None,
                 check_results: Sequence[Any] = ()) -> None:
        self.metadata: Mapping[str, Any] = metadata or {}
        self.check_results: tuple[Any, ...] = tuple(check_results)

    def __repr__(self) -> str:
        return f"MaterializeResult(metadata={dict(self.metadata)!r})"


class Returned(NamedTuple):
    # the value to store, unless ``store`` is False (a MaterializeResult)
    value: Any
    store: bool
    metadata: Mapping[str, Any]


def unwrap(returned: Any) -> Returned:
    """What an op's return value stands for."""
    if isinstance(returned, Output):
        return Returned(returned.value, True, returned.metadata)
    if isinstance(returned, MaterializeResult):
        return Returned(None, False, returned.metadata)
    return Returned(returned, True, {})
