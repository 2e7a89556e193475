"""Rate limits: GraphQL mutations per user token, web UI sign-ins per client address.

Token buckets kept in this process's memory: each key may spend a burst at once, and earns
it back at a steady rate. Several control-plane processes behind one address each keep
their own, so the effective limit is per process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tether.settings import Settings

# the most keys remembered at once: a caller cycling through addresses cannot grow the table
# without bound (full buckets are forgotten first, then the least recently used)
MAX_KEYS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``burst`` requests at once per key, earned back at ``per_minute``; with either 0 the
    limiter lets everything through."""

    def __init__(self, *, burst: int, per_minute: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[object, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.burst > 0 and self._rate > 0

    def take(self, key: object, cost: int = 1) -> float:
        """Spend ``cost`` of ``key``'s bucket: 0.0 when allowed, else the seconds until it
        would be (nothing is spent then)."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), updated=now)
            self._forget_some()
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        # re-inserted: the table stays in order of last use
        self._buckets[key] = bucket
        if cost > self.burst:
            return float("inf")
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self._rate

    def _forget_some(self) -> None:
        if len(self._buckets) < MAX_KEYS:
            return
        now = self._clock()
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self._rate >= self.burst:
                del self._buckets[key]
        while len(self._buckets) >= MAX_KEYS:
            del self._buckets[next(iter(self._buckets))]


def mutation_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(burst=settings.mutation_burst, per_minute=settings.mutations_per_minute)


def signin_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(burst=settings.signin_burst, per_minute=settings.signins_per_minute)
