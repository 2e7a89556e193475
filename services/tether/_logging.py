from __future__ import annotations

import logging
import sys


def configure_logging(level: str, process: str) -> None:
    """One line per event on stderr, naming the process (honcho prefixes it once more)."""
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {process} %(name)s: %(message)s",
        force=True,
    )
    # request lines from the HTTP client drown the agent's own events at INFO
    logging.getLogger("httpx").setLevel(logging.WARNING)
