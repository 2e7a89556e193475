"""Op retries: ``RetryPolicy`` on an op or asset, and ``raise RetryRequested(...)`` from its
body. A step that will be retried records STEP_RETRY (not STEP_FAILURE), waits, and runs
again in the same run attempt; only its last attempt's failure fails the step."""

from __future__ import annotations

import random
from enum import Enum
from typing import NamedTuple


class Backoff(Enum):
    """How the delay grows: ``LINEAR`` delay * n, ``EXPONENTIAL`` delay * (2**n - 1), for
    the n-th retry (as Dagster computes it)."""

    LINEAR = "LINEAR"
    EXPONENTIAL = "EXPONENTIAL"


class Jitter(Enum):
    """Randomness added to the delay: ``FULL`` a random share of it, ``PLUS_MINUS`` up to the
    base delay either way."""

    FULL = "FULL"
    PLUS_MINUS = "PLUS_MINUS"


class RetryPolicy(NamedTuple):
    """Retry a failed step up to ``max_retries`` times, waiting ``delay`` seconds (grown by
    ``backoff``, varied by ``jitter``) before each retry."""

    max_retries: int = 1
    delay: float | None = None
    backoff: Backoff | None = None
    jitter: Jitter | None = None

    def seconds_before(self, retry_number: int) -> float:
        """The wait before retry ``retry_number`` (1 for the first)."""
        base = self.delay or 0.0
        delay = base
        if self.backoff is Backoff.LINEAR:
            delay = base * retry_number
        elif self.backoff is Backoff.EXPONENTIAL:
            delay = base * (2 ** retry_number - 1)
        if self.jitter is Jitter.FULL:
            delay = random.random() * delay
        elif self.jitter is Jitter.PLUS_MINUS:
            delay = delay + random.uniform(-base, base)
        return max(0.0, delay)


class RetryRequested(Exception):
    """Raised by an op to be run again: up to ``max_retries`` times, after
    ``seconds_to_wait``. Raise it ``from`` the error that made the attempt fail, so the step's
    events show that error."""

    def __init__(self, max_retries: int = 1, seconds_to_wait: float | None = None) -> None:
        super().__init__(f"retry requested (up to {max_retries} retries)")
        self.max_retries = max_retries
        self.seconds_to_wait = seconds_to_wait


def retry_wait(policy: RetryPolicy | None, exc: Exception, retry_number: int) -> float | None:
    """Seconds to wait before retry ``retry_number`` of a step that raised ``exc``; None when
    the step has no retry left and fails."""
    if isinstance(exc, RetryRequested):
        if retry_number > exc.max_retries:
            return None
        return max(0.0, exc.seconds_to_wait or 0.0)
    if policy is None or retry_number > policy.max_retries:
        return None
    return policy.seconds_before(retry_number)
