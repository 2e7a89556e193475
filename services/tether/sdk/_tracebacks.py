"""The part of a traceback a user can act on: their own frames, without Tether's.

A step's error, a tick's error and a code location's load error all cross to the UI and the
CLI as text. Tether's own frames (the executor, the loader, resource resolution) and
importlib's say nothing the user can change, so they are cut, in chained exceptions too.
An error Tether raised itself about the user's setup (an unset ``EnvVar``, ...) keeps no
traceback at all: its message names what to fix.
"""

from __future__ import annotations

import importlib
import os
import traceback

from ..errors import TetherError

_TETHER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_IMPORTLIB_DIR = os.path.dirname(os.path.abspath(importlib.__file__)) + os.sep


def _is_own_frame(frame: traceback.FrameSummary) -> bool:
    filename = frame.filename
    return (filename.startswith((_TETHER_DIR, _IMPORTLIB_DIR))
            or filename.startswith("<frozen importlib"))


def user_traceback(exc: BaseException) -> str:
    """The traceback text of ``exc`` with only frames of user code (and the libraries it
    calls); ``""`` for a Tether error raised before any user frame."""
    summary = traceback.TracebackException.from_exception(exc)
    kept = 0
    seen: set[int] = set()
    pending = [summary]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        frames = [frame for frame in current.stack if not _is_own_frame(frame)]
        kept += len(frames)
        current.stack = traceback.StackSummary.from_list(frames)
        pending += [chained for chained in (current.__cause__, current.__context__,
                                            *(current.exceptions or ()))
                    if chained is not None]
    if kept == 0 and isinstance(exc, TetherError):
        return ""
    return "".join(summary.format())
