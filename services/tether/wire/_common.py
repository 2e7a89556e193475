from __future__ import annotations

import traceback

import msgspec


class ErrorInfo(msgspec.Struct, kw_only=True, frozen=True):
    """An error as it crosses a process boundary: the class, the message and the traceback."""

    class_name: str
    message: str
    stack: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(class_name=type(exc).__name__, message=str(exc), stack=stack)
