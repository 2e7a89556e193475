"""Capture of a run worker's stdout and stderr at the file-descriptor level.

Descriptors 1 and 2 are pointed at pipes, so output of C extensions and child processes is
captured too. A thread per stream reads the pipe, sends each piece as a :class:`LogChunk`
(attributed to the step running at that moment) and tees it to the original descriptor, so the
operator still sees it in the agent's terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable

from ..wire import LogChunk, LogStream

_READ_SIZE = 64 * 1024


class OutputCapture:
    def __init__(
        self,
        *,
        run_id: str,
        attempt: int,
        send: Callable[[LogChunk], None],
        current_step: Callable[[], str | None],
    ) -> None:
        self._run_id = run_id
        self._attempt = attempt
        self._send = send
        self._current_step = current_step
        self._saved: dict[int, int] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for fd, stream, pyfile in ((1, "stdout", sys.stdout), (2, "stderr", sys.stderr)):
            pyfile.flush()
            read_end, write_end = os.pipe()
            self._saved[fd] = os.dup(fd)
            os.dup2(write_end, fd)
            os.close(write_end)
            thread = threading.Thread(
                target=self._pump, args=(read_end, self._saved[fd], stream),
                name=f"tether-capture-{stream}", daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        # a pipe makes Python buffer whole blocks; lines keep the step attribution right
        for pyfile in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError):
                pyfile.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    def stop(self) -> None:
        """Restore the descriptors and wait until everything captured has been sent."""
        for pyfile in (sys.stdout, sys.stderr):
            with contextlib.suppress(ValueError):
                pyfile.flush()
        for fd, saved in self._saved.items():
            # the pipe's last write end closes here, so its reader sees end-of-file
            os.dup2(saved, fd)
        for thread in self._threads:
            thread.join()
        for saved in self._saved.values():
            os.close(saved)
        self._saved.clear()

    def _pump(self, read_end: int, tee_fd: int, stream: LogStream) -> None:
        seq = 0
        tee = True
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while data := pipe.read(_READ_SIZE):
                seq += 1
                self._send(LogChunk(
                    run_id=self._run_id, attempt=self._attempt, stream=stream, seq=seq,
                    data=data.decode(errors="replace"), step_key=self._current_step(),
                ))
                if tee:
                    try:
                        os.write(tee_fd, data)
                    except OSError:
                        # the launcher that read our output is gone; keep capturing
                        tee = False
