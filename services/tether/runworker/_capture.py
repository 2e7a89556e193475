"""Capture of a run worker's stdout and stderr at the file-descriptor level.

Descriptors 1 and 2 are pointed at pipes, so output of C extensions and child processes is
captured too. A thread per stream reads the pipe, sends each piece as a :class:`LogChunk`
(attributed to the step running at that moment) and tees it to the original descriptor, so the
operator still sees it in the agent's terminal.

When steps run side by side in threads, the pipe cannot tell which of them wrote a piece: what
a step thread writes through ``sys.stdout``/``sys.stderr`` is therefore sent straight from that
thread, attributed to its own step, one line at a time. Output written below Python (C code, a
child process) still goes through the pipe and names a step only when one runs alone.
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
    # chunks come from the pump and from step threads; their seq must not repeat
    send_lock: threading.Lock = field(default_factory=threading.Lock)
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
        thread_step: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._run_id = run_id
        self._attempt = attempt
        self._send = send
        self._current_step = current_step
        self._thread_step = thread_step
        self._pumps: dict[int, _Pump] = {}
        self._python_files: list[tuple[str, TextIO]] = []

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
        for name, pump in (("stdout", self._pumps[1]), ("stderr", self._pumps[2])):
            original: TextIO = getattr(sys, name)
            self._python_files.append((name, original))
            setattr(sys, name, _StepThreadWriter(original, pump, self))

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
        for name, original in self._python_files:
            setattr(sys, name, original)
        self._python_files.clear()
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
                    self.send_chunk(pump, text, self._current_step())
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


    def send_chunk(self, pump: _Pump, text: str, step_key: str | None) -> None:
        with pump.send_lock:
            pump.seq += 1
            self._send(LogChunk(run_id=self._run_id, attempt=self._attempt,
                                stream=pump.stream, seq=pump.seq, data=text,
                                step_key=step_key))

    def step_of_thread(self) -> str | None:
        """The step the calling thread runs, when it is a step thread (not the main one,
        whose output goes through the pipe as it always did)."""
        if threading.current_thread() is threading.main_thread():
            return None
        return self._thread_step()


class _StepThreadWriter:
    """``sys.stdout`` or ``sys.stderr`` while a run executes: a step thread's writes are sent
    as its step's chunks, whole lines at a time, and teed to the terminal; every other
    thread's go to the real file (and so through the pipe)."""

    def __init__(self, original: TextIO, pump: _Pump, capture: OutputCapture) -> None:
        self._original = original
        self._pump = pump
        self._capture = capture
        self._pending = threading.local()

    def write(self, text: str) -> int:
        step = self._capture.step_of_thread()
        if step is None:
            return self._original.write(text)
        buffered: str = getattr(self._pending, "text", "") + text
        end = buffered.rfind("\n") + 1
        self._pending.text = buffered[end:]
        if end:
            self._emit(buffered[:end], step)
        return len(text)

    def flush(self) -> None:
        step = self._capture.step_of_thread()
        pending: str = getattr(self._pending, "text", "")
        if step is not None and pending:
            self._pending.text = ""
            self._emit(pending, step)
        self._original.flush()

    def _emit(self, text: str, step: str) -> None:
        self._capture.send_chunk(self._pump, text, step)
        with contextlib.suppress(OSError):
            os.write(self._pump.original_fd, text.encode(errors="replace"))

    def __getattr__(self, name: str) -> object:
        return getattr(self._original, name)


def _pending_bytes(fd: int) -> int:
    try:
        buffer = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int.from_bytes(buffer, sys.byteorder)
