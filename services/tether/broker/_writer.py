"""The run worker's writer: appends entries to streams from a background thread.

User code calls :meth:`StreamWriter.put`, which only enqueues; a thread sends what has queued up
in pipelined batches, so a slow broker slows no step until ``max_buffered`` entries wait. Nothing
is dropped: while Redis is unreachable the thread retries with backoff, and :meth:`close` waits
until everything is written (or ``close_timeout`` passes, which it reports).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.exceptions import RedisError

from .._backoff import Backoff
from ._messages import entry_fields

_STOP = object()


def _warn_on_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class StreamWriter:
    def __init__(
        self,
        redis_url: str,
        *,
        traceparent: str = "",
        deployment: str = "",
        max_batch: int = 500,
        max_buffered: int = 100_000,
        warn: Callable[[str], None] = _warn_on_stderr,
    ) -> None:
        self._redis = redis.Redis.from_url(redis_url)
        # the traceparent each entry carries; may change between puts
        self.traceparent = traceparent
        # the deployment of the run whose entries it writes (see broker keys: ``d``)
        self.deployment = deployment
        self._max_batch = max_batch
        # a run worker captures its own stderr into this writer: its warnings must go around
        self._warn = warn
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_buffered)
        self._thread = threading.Thread(target=self._run, name="tether-stream-writer", daemon=True)
        self._thread.start()

    def claim(self, key: str, value: str, ttl_seconds: int) -> bool:
        """SET ``key`` NX (waiting out an unreachable broker); False if it was already set."""
        backoff = Backoff(maximum=2.0)
        while True:
            try:
                return bool(self._redis.set(key, value, nx=True, ex=ttl_seconds))
            except RedisError as exc:
                delay = backoff.next_delay()
                self._warn(f"tether: broker unreachable, retrying in {delay:.2f}s: {exc}")
                time.sleep(delay)

    def exists(self, key: str) -> bool:
        """Whether ``key`` is set; False when the broker cannot say (asked once, no retry)."""
        try:
            return bool(self._redis.exists(key))
        except RedisError:
            return False

    def put(self, stream: str, message: Any) -> None:
        self._queue.put((stream, entry_fields(message, self.traceparent, self.deployment)))

    def close(self, close_timeout: float = 60.0) -> bool:
        """Send everything still queued, then stop; False if the deadline passed first."""
        deadline = time.monotonic() + close_timeout
        try:
            self._queue.put(_STOP, timeout=close_timeout)
        except queue.Full:
            return False
        self._thread.join(max(0.0, deadline - time.monotonic()))
        done = not self._thread.is_alive()
        if done:
            self._redis.close()
        return done

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if batch[-1] is _STOP:
                batch.pop()
                stopping = True
            self._send(batch)

    def _send(self, batch: list[tuple[str, dict[bytes, bytes]]]) -> None:
        backoff = Backoff(maximum=2.0)
        while batch:
            try:
                pipe = self._redis.pipeline(transaction=False)
                for stream, fields in batch:
                    pipe.xadd(stream, fields)  # type: ignore[arg-type]
                pipe.execute()
                return
            except RedisError as exc:
                # the whole batch is resent: a stream entry is only a transport, and the
                # control plane stores each (run, attempt, seq) once
                delay = backoff.next_delay()
                self._warn(f"tether: broker write failed, retrying in {delay:.2f}s: {exc}")
                time.sleep(delay)
