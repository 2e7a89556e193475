"""Capture of a run worker's stdout and stderr at the file-descriptor level.

Descriptors 1 and 2 are pointed at pipes, so output of C extensions and child processes is
captured too. A thread per stream reads the pipe, sends each piece as a :class:`LogChunk`
(attributed to the step running at that moment) and tees it to the original descriptor, so the
operator still sees it in the agent's terminal.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import os
import select
import sys
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from ..wire import LogChunk, LogStream

_READ_SIZE = 64 * 1024
# how long stop() waits for the readers: a background process the user's code started keeps
# the pipe open, and the run must end anyway
_JOIN_SECONDS = 5.0
# how long drain() waits for output written before a step boundary to be read
_DRAIN_SECONDS = 0.5


@dataclass
class _Pump:
    stream: LogStream
    read_end: int
    original_fd: int
    thread: threading.Thread | None = None
    # held while bytes are taken from the pipe, so drain() sees them either still in the pipe
    # or marked busy until they are sent
    lock: threading.Lock = field(default_factory=threading.Lock)
    busy: bool = False
    seq: int = 0
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace"))


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
        self._pumps: dict[int, _Pump] = {}

    def start(self) -> None:
        streams: tuple[tuple[int, LogStream, TextIO], ...] = (
            (1, "stdout", sys.stdout), (2, "stderr", sys.stderr))
        for fd, stream, pyfile in streams:
            pyfile.flush()
            read_end, write_end = os.pipe()
            pump = _Pump(stream=stream, read_end=read_end, original_fd=os.dup(fd))
            os.dup2(write_end, fd, inheritable=True)
            os.close(write_end)
            pump.thread = threading.Thread(target=self._run_pump, args=(pump,),
                                           name=f"tether-capture-{stream}", daemon=True)
            pump.thread.start()
            self._pumps[fd] = pump
        # a pipe makes Python buffer whole blocks (or, unbuffered, write each piece of a line
        # apart): one write per line keeps chunks whole and the step attribution right
        for pyfile in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError):
                pyfile.reconfigure(line_buffering=True, write_through=False)  # type: ignore[union-attr]

    def drain(self) -> None:
        """Wait until what was written so far has been read and sent, so that it is
        attributed to the step that wrote it (called at the end of each step)."""
        for pyfile in (sys.stdout, sys.stderr):
            with contextlib.suppress(ValueError):
                pyfile.flush()
        deadline = time.monotonic() + _DRAIN_SECONDS
        for pump in self._pumps.values():
            while time.monotonic() < deadline:
                with pump.lock:
                    if not pump.busy and not _pending_bytes(pump.read_end):
                        break
                time.sleep(0.0001)

    def write_original(self, message: str) -> None:
        """Write to the real stderr, past the capture (for the worker's own warnings)."""
        pump = self._pumps.get(2)
        fd = pump.original_fd if pump is not None else 2
        with contextlib.suppress(OSError):
            os.write(fd, (message + "\n").encode(errors="replace"))

    def stop(self) -> None:
        """Restore the descriptors and wait until everything captured has been sent."""
        for pyfile in (sys.stdout, sys.stderr):
            with contextlib.suppress(ValueError):
                pyfile.flush()
        for fd, pump in self._pumps.items():
            # the pipe's last write end in this process closes here, so its reader sees
            # end-of-file (unless a child process still holds it)
            os.dup2(pump.original_fd, fd)
        deadline = time.monotonic() + _JOIN_SECONDS
        for pump in self._pumps.values():
            assert pump.thread is not None
            pump.thread.join(max(0.0, deadline - time.monotonic()))
            if pump.thread.is_alive():
                self.write_original(f"tether: a process started by the run still holds its "
                                    f"{pump.stream}; output it writes from now on is not kept")
        for pump in self._pumps.values():
            os.close(pump.original_fd)
        self._pumps.clear()

    def _run_pump(self, pump: _Pump) -> None:
        tee = True
        try:
            while True:
                # wait outside the lock; read inside it, where drain() can see the bytes move
                select.select([pump.read_end], [], [])
                with pump.lock:
                    data = os.read(pump.read_end, _READ_SIZE)
                    pump.busy = True
                text = pump.decoder.decode(data, final=not data)
                if text:
                    pump.seq += 1
                    self._send(LogChunk(
                        run_id=self._run_id, attempt=self._attempt, stream=pump.stream,
                        seq=pump.seq, data=text, step_key=self._current_step(),
                    ))
                if tee and data:
                    try:
                        os.write(pump.original_fd, data)
                    except OSError:
                        # the launcher that read our output is gone; keep capturing
                        tee = False
                pump.busy = False
                if not data:
                    return
        finally:
            os.close(pump.read_end)


def _pending_bytes(fd: int) -> int:
    try:
        buffer = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int.from_bytes(buffer, sys.byteorder)
