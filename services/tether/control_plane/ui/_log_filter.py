"""The run page's log filter (step, levels, a text to find) as read from the address, and
the same filter applied to compute output."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

from .errors import BadRequest

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# a search is a phrase someone typed, not a document
MAX_QUERY = 200
# compute output shown on the run page (its end); the logs page has all of it
COMPUTE_LOG_SHOWN = 64 * 1024
# the newest chunks read for it (a chunk is what the run worker sent at once)
COMPUTE_CHUNKS = 1000


@dataclass(frozen=True, slots=True)
class LogFilter:
    levels: list[str]
    step: str | None
    text: str | None

    @classmethod
    def of(cls, request: Request) -> LogFilter:
        params = request.query_params
        text = params.get("q", "").strip() or None
        if text is not None and len(text) > MAX_QUERY:
            raise BadRequest(f"the search text is {len(text)} characters long; search for "
                             f"at most {MAX_QUERY}")
        return cls(levels=[level for level in params.getlist("level") if level in LEVELS],
                   step=params.get("step") or None, text=text)

    @property
    def active(self) -> bool:
        return bool(self.levels or self.step or self.text)

    @property
    def query(self) -> str:
        """The filter as a query string (without ``?``), for links that keep it."""
        pairs = [("level", level) for level in self.levels]
        pairs += [(k, v) for k, v in (("step", self.step), ("q", self.text)) if v]
        return urlencode(pairs)


def matching_lines(text: str, needle: str) -> str:
    """The lines of ``text`` that contain ``needle``, ignoring case, each with its newline."""
    folded = needle.casefold()
    return "".join(line for line in text.splitlines(keepends=True) if folded in line.casefold())
