"""The multiprocess executor's step: a child process forked from the run worker runs one step.

The child runs in its own process group (a cancel stops the step and whatever it started),
hands its output over through the step's IO manager (stored, so the steps downstream, in other
processes, load it), and sends its events, what it prints and, at its end, which outputs it
produced (the mapping keys of a DynamicOut among them) back through a pipe. In the run
worker a thread per child re-emits them in arrival order with the run's own ``seq`` and writes
the child's output as its step's. A cancel reaches the child as SIGTERM (recorded as
STEP_CANCELED), another interruption as SIGINT (a failure); the parent asks ``canceled()``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, BinaryIO

from ..wire import ErrorInfo, RunEvent, StepCanceled, StepFailure
from ._events import RunEmitter
from ._graph import Node
from ._handover import StepOutputs

_HEADER = struct.Struct(">I")
# prctl(2): the signal a process gets when the thread that forked it ends
_PR_SET_PDEATHSIG = 1
# the event fields the run worker's emitter stamps itself
_STAMPED = frozenset({"run_id", "attempt", "seq", "timestamp"})

# runs a step with the given emitter and cancel check (the child's own): its error (None:
# it succeeded or was skipped) and what it produced (None: nothing, it did not succeed)
ChildStep = Callable[[Node, RunEmitter, Callable[[], bool]],
                     "tuple[ErrorInfo | None, StepOutputs | None]"]


class ProcessSteps:
    """Runs steps in child processes for the scheduler (``run_steps``)."""

    def __init__(self, *, emitter: RunEmitter, child_step: ChildStep,
                 canceled: Callable[[], bool]) -> None:
        self._emitter = emitter
        self._child_step = child_step
        self._canceled = canceled
        # step -> its child's pid (which is also its process group)
        self._children: dict[str, int] = {}
        # the steps that were asked to stop
        self._stopped: set[str] = set()
        # a child forked while another step's pipe is still open for writing here would
        # hold that pipe open, and its relay would wait for both children to exit
        self._fork_lock = threading.Lock()

    def run(self, node: Node) -> tuple[ErrorInfo | None, StepOutputs | None]:
        """Fork a child for ``node``, relay what it sends until it exits; its error (None:
        success or skipped) and what it produced (None: nothing). Raises KeyboardInterrupt
        when the child was interrupted."""
        with self._fork_lock:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                _child(node, write_end, self._emitter, self._child_step)
            os.close(write_end)
            self._children[node.name] = pid
        emitter = self._emitter
        # what this relaying thread writes is the step's output
        emitter.current_step = node.name
        outcome: tuple[str, Any] | None = None
        try:
            with os.fdopen(read_end, "rb") as pipe:
                for kind, payload in _messages(pipe):
                    if kind == "event":
                        emitter.emit(type(payload), **_fields(payload))
                    elif kind == "output":
                        stream, text = payload
                        getattr(sys, stream).write(text)
                    else:
                        outcome = (kind, payload)
        finally:
            _, status = os.waitpid(pid, 0)
            del self._children[node.name]
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(ValueError):
                    stream.flush()
        emitter.current_step = None
        if outcome is not None and outcome[0] == "done":
            done: tuple[ErrorInfo | None, StepOutputs | None] = outcome[1]
            return done
        if outcome is not None and outcome[0] == "interrupted":
            # the child recorded the step's cancel or failure already
            raise KeyboardInterrupt(f"step {node.name} was interrupted")
        if node.name in self._stopped and self._canceled():
            # killed when the grace of a cancel was over: canceled like the others
            emitter.emit(StepCanceled, step_key=node.name)
            raise KeyboardInterrupt(f"step {node.name} was killed")
        code = os.waitstatus_to_exitcode(status)
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        error = ErrorInfo(class_name="StepProcessExited",
                          message=f"the process of step {node.name} {how} before it finished")
        emitter.emit(StepFailure, duration=0.0, error=error, step_key=node.name)
        return error, None

    def stop(self, step: str, force: bool) -> None:
        """Interrupt the child running ``step`` and everything it started (``force``: kill
        them)."""
        pid = self._children.get(step)
        if pid is None:
            return
        self._stopped.add(step)
        how = (signal.SIGKILL if force else
               signal.SIGTERM if self._canceled() else signal.SIGINT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, how)


def _child(node: Node, fd: int, parent: RunEmitter, child_step: ChildStep) -> None:
    """The child's whole life: never returns."""
    code = 1
    try:
        os.setpgid(0, 0)
        _die_with_parent()
        pipe = os.fdopen(fd, "wb")

        def send(kind: str, payload: Any) -> None:
            body = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
            pipe.write(_HEADER.pack(len(body)) + body)
            pipe.flush()

        canceled = [False]

        def on_term(signum: int, frame: FrameType | None) -> None:
            canceled[0] = True
            raise KeyboardInterrupt("the run was canceled")

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.stdout = _Forward("stdout", send)
        sys.stderr = _Forward("stderr", send)
        emitter = RunEmitter(run_id=parent.run_id, attempt=parent.attempt,
                             sink=lambda event: send("event", event))
        try:
            done = child_step(node, emitter, lambda: canceled[0])
        except BaseException:
            sys.stdout.flush()
            sys.stderr.flush()
            send("interrupted", None)
        else:
            sys.stdout.flush()
            sys.stderr.flush()
            send("done", done)
            code = 0
    finally:
        # no atexit handlers, no flushing of the run worker's buffers: they are the parent's
        os._exit(code)


def _die_with_parent() -> None:
    # a run worker killed outright (SIGKILL after the launcher's grace) cannot stop its step
    # processes, which left its process group: on Linux the kernel kills them with it
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class _Forward:
    """The child's ``sys.stdout``/``sys.stderr``: whole lines go to the parent."""

    def __init__(self, stream: str, send: Callable[[str, Any], None]) -> None:
        self._stream = stream
        self._send = send
        self._pending = ""

    def write(self, text: str) -> int:
        buffered = self._pending + text
        end = buffered.rfind("\n") + 1
        self._pending = buffered[end:]
        if end:
            self._send("output", (self._stream, buffered[:end]))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._send("output", (self._stream, self._pending))
            self._pending = ""

    def isatty(self) -> bool:
        return False


def _messages(pipe: BinaryIO) -> Iterator[tuple[str, Any]]:
    while True:
        head = pipe.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(head)
        body = pipe.read(size)
        if len(body) < size:
            return
        # our own child wrote it
        message: tuple[str, Any] = pickle.loads(body)
        yield message


def _fields(event: RunEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__struct_fields__
            if name not in _STAMPED}
