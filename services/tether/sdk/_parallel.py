"""Scheduling a run's steps: which step may start, and running up to ``max_concurrent`` of
them side by side in threads.

A step that no other could overlap (nothing else running or ready) runs in the main thread,
so a chain of steps behaves exactly as under the sequential executor.

A step starts once every step it depends on (within the run) has finished; a step whose
upstream failed or was skipped is skipped in turn, naming the failed step, while independent
branches go on. With ``max_concurrent=1`` the steps run in the calling thread in the job's
order, exactly as a sequential executor would. A cancel (SIGTERM, which the run worker turns
into ``KeyboardInterrupt`` in the main thread) interrupts every running step thread with
``KeyboardInterrupt`` too, so each records STEP_CANCELED and its ``finally`` blocks run, and
waits for them before the run records its own outcome.
"""

from __future__ import annotations

import collections
import contextvars
import heapq
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from ..errors import RunConfigError
from ..wire import ErrorInfo, StepSkipped
from ._events import RunEmitter
from ._graph import Node

EXECUTOR_KINDS = ("in_process", "thread", "multiprocess")
# how long a cancel waits for the interrupted steps (a thread blocked in C code, a long sleep
# or a socket read, sees its interruption only when it next runs Python; a step process may
# ignore it): well within the launcher's grace before it SIGKILLs the run worker (10 s)
_CANCEL_GRACE_SECONDS = 5.0


class Executor(NamedTuple):
    """How a job's steps run: ``"thread"`` (independent steps side by side, up to
    ``max_concurrent`` at once; the default), ``"multiprocess"`` (the same, each step in a
    process of its own, forked from the run worker) or ``"in_process"`` (one after another in
    the run worker's main thread). ``max_concurrent`` None means the machine's CPU count."""

    kind: str = "thread"
    max_concurrent: int | None = None

    def concurrency(self) -> int:
        if self.kind == "in_process":
            return 1
        return max(1, self.max_concurrent or os.cpu_count() or 1)


def choose_executor(default: Executor | None, run_config: Mapping[str, Any]) -> Executor:
    """The executor of a run: the run config's ``execution`` section
    (``{"executor": "thread", "max_concurrent": 4}``) over the job's own, over the default."""
    chosen = default or Executor()
    if chosen.kind not in EXECUTOR_KINDS:
        raise RunConfigError(f"the job's executor: expected one of {', '.join(EXECUTOR_KINDS)}, "
                             f"got {chosen.kind!r}")
    execution = run_config.get("execution")
    if execution is None:
        return chosen
    if not isinstance(execution, Mapping):
        raise RunConfigError("$.execution: expected object")
    unknown = sorted(set(execution) - {"executor", "max_concurrent"})
    if unknown:
        raise RunConfigError(f"$.execution: unknown field {', '.join(unknown)} "
                             "(known: executor, max_concurrent)")
    kind = execution.get("executor", chosen.kind)
    if kind not in EXECUTOR_KINDS:
        raise RunConfigError(f"$.execution.executor: expected one of "
                             f"{', '.join(EXECUTOR_KINDS)}, got {kind!r}")
    limit = execution.get("max_concurrent", chosen.max_concurrent)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or limit < 1):
        raise RunConfigError(f"$.execution.max_concurrent: expected an integer >= 1, "
                             f"got {limit!r}")
    return Executor(kind=kind, max_concurrent=limit)


def pause(seconds: float) -> None:
    """Sleep in short naps: a cancel reaches a step thread only between two of them."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.1))


def check_handover(nodes: Sequence[Node], *, stored: bool) -> None:
    """Refuse, before the first step, a multiprocess run whose outputs cannot cross from one
    step process to another."""
    unstored = [node.name for node in nodes if node.op.io_manager_key is None]
    if unstored:
        raise RunConfigError(
            f"$.execution.executor: step{'s' if len(unstored) > 1 else ''} "
            f"{', '.join(unstored)} keep their output in the run's memory "
            "(io_manager_key=None), which a step in another process cannot read: use the "
            "thread executor, or store the output with an IO manager")
    if not stored:
        raise RunConfigError(
            "$.execution.executor: the multiprocess executor hands outputs over through "
            "storage, and this run keeps them in memory: run it in a run worker (which stores "
            "them under TETHER_STORAGE_DIR) or give the location an io_manager resource")


class _Plan:
    """Which steps may start: each waits for its upstream steps within the run; a step whose
    upstream failed or was skipped is skipped when its turn comes."""

    def __init__(self, nodes: Sequence[Node], emitter: RunEmitter,
                 expand: Callable[[Node], list[Node]] | None = None) -> None:
        self._emitter = emitter
        self._nodes = nodes
        # a node mapped over a DynamicOut runs as one copy per value, known only once its
        # upstream ran: a node's steps are made when it is ready, and it is done when they are
        self._expand = expand or (lambda node: [node])
        self._steps: collections.deque[Node] = collections.deque()
        self._node_of: dict[str, str] = {}
        self._unfinished: dict[str, int] = {}
        self._index = {node.name: index for index, node in enumerate(nodes)}
        # upstream steps outside the run (a step selection) fed it from storage: not waited on
        self._waiting = {node.name: sum(1 for up in node.upstream if up in self._index)
                         for node in nodes}
        self._downstream: dict[str, list[str]] = {}
        for node in nodes:
            for up in node.upstream:
                if up in self._index:
                    self._downstream.setdefault(up, []).append(node.name)
        # by run order, so that one step at a time runs them in the job's order
        self._ready = [index for index, node in enumerate(nodes)
                       if not self._waiting[node.name]]
        heapq.heapify(self._ready)
        self.failed: dict[str, ErrorInfo] = {}
        # the failed step that keeps each skipped step from running
        self._blocked_by: dict[str, str] = {}

    def take(self) -> Node | None:
        """The next step to run, skipping (and recording) the blocked ones; None when no step
        can start until a running one finishes."""
        while self._steps or self._ready:
            if not self._steps:
                self._make_steps(self._nodes[heapq.heappop(self._ready)])
                continue
            node = self._steps.popleft()
            root = next((self._blocked_by.get(up, up) for up in node.upstream
                         if up in self.failed or up in self._blocked_by), None)
            if root is None:
                return node
            self._blocked_by[node.name] = root
            self._emitter.emit(StepSkipped, reason=f"upstream step {root} failed",
                               step_key=node.name)
            self._step_done(node.name)
        return None

    def has_ready(self) -> bool:
        return bool(self._steps or self._ready)

    def finish(self, step: str, error: ErrorInfo | None) -> None:
        if error is not None:
            self.failed[step] = error
        self._step_done(step)

    def _make_steps(self, node: Node) -> None:
        steps = self._expand(node)
        self._unfinished[node.name] = len(steps)
        for step in steps:
            self._node_of[step.name] = node.name
        self._steps.extend(steps)

    def _step_done(self, step: str) -> None:
        node = self._node_of.get(step, step)
        self._unfinished[node] -= 1
        if not self._unfinished[node]:
            self._finished(node)

    def _finished(self, step: str) -> None:
        for down in self._downstream.get(step, ()):
            self._waiting[down] -= 1
            if not self._waiting[down]:
                heapq.heappush(self._ready, self._index[down])


RunStep = Callable[[Node], "ErrorInfo | None"]


def run_steps(nodes: Sequence[Node], emitter: RunEmitter, run_step: RunStep, *,
              max_concurrent: int, stop_step: Callable[[str, bool], None] | None = None,
              expand: Callable[[Node], list[Node]] | None = None,
              ) -> dict[str, ErrorInfo]:
    """Run the steps, up to ``max_concurrent`` at once; returns the failed steps and their
    errors. An interruption (cancel, ``SystemExit``) stops the other running steps and is
    re-raised once they have stopped. ``stop_step(step, force)`` stops a running step (a step
    process; ``force`` once the grace is over); without it, steps run in this process's
    threads, and are interrupted there. ``expand(node)`` gives the steps a node runs as
    once it is ready (its copies, for a node mapped over a DynamicOut)."""
    plan = _Plan(nodes, emitter, expand)
    if max_concurrent <= 1 and stop_step is None:
        while (node := plan.take()) is not None:
            plan.finish(node.name, run_step(node))
        return plan.failed
    return _Threads(plan, run_step, max_concurrent, stop_step).run()


class _StepThread(threading.Thread):
    def __init__(self, node: Node, run_step: RunStep,
                 done: queue.SimpleQueue[_StepThread]) -> None:
        super().__init__(name=f"tether-step-{node.name}", daemon=True)
        self.node = node
        self._run_step = run_step
        self._done = done
        # the scheduling thread's context (the run's trace span among it), which a new
        # thread would not have: the step's span is the run worker's child like any other
        self._context = contextvars.copy_context()
        self.error: ErrorInfo | None = None
        self.raised: BaseException | None = None
        # held while deciding whether the step can still be interrupted, so an interruption
        # never lands after the step has finished
        self.lock = threading.Lock()
        self.finished = False

    def run(self) -> None:
        try:
            try:
                self.error = self._context.run(self._run_step, self.node)
            except BaseException as exc:
                # handed to the scheduling thread, which stops the run
                self.raised = exc
            with self.lock:
                self.finished = True
        except BaseException:
            # an interruption that came after the step finished: nothing left to stop
            pass
        self._done.put(self)

    def interrupt(self) -> None:
        with self.lock:
            if self.finished or self.ident is None:
                return
            # imported here: only a canceled run needs it
            import ctypes

            # the same exception SIGTERM raises in the main thread: the step records a cancel
            # (or an interruption) and its finally blocks run
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.ident), ctypes.py_object(KeyboardInterrupt))


class _Threads:
    def __init__(self, plan: _Plan, run_step: RunStep, max_concurrent: int,
                 stop_step: Callable[[str, bool], None] | None) -> None:
        self._plan = plan
        self._run_step = run_step
        self._max = max_concurrent
        # a step process's thread only relays: the process is what a cancel stops
        self._stop_step = stop_step
        self._done: queue.SimpleQueue[_StepThread] = queue.SimpleQueue()
        self._running: dict[str, _StepThread] = {}

    def run(self) -> dict[str, ErrorInfo]:
        try:
            while True:
                self._start_ready()
                if not self._running:
                    return self._plan.failed
                # blocks in a lock acquire, which SIGTERM's KeyboardInterrupt interrupts
                self._collect(self._done.get())
        except BaseException:
            self._stop_all()
            raise

    def _start_ready(self) -> None:
        while len(self._running) < self._max and (node := self._plan.take()) is not None:
            if not self._running and not self._plan.has_ready() and self._stop_step is None:
                # no other step can start before this one ends: it runs in the main thread,
                # where a cancel interrupts it even inside a blocking call (a step thread
                # sees its interruption only when it next runs Python)
                self._plan.finish(node.name, self._run_step(node))
                continue
            thread = _StepThread(node, self._run_step, self._done)
            self._running[node.name] = thread
            thread.start()

    def _collect(self, thread: _StepThread) -> None:
        thread.join()
        del self._running[thread.node.name]
        if thread.raised is not None:
            raise thread.raised
        self._plan.finish(thread.node.name, thread.error)

    def _stop_all(self) -> None:
        for thread in self._running.values():
            if self._stop_step is not None:
                self._stop_step(thread.node.name, False)
            else:
                thread.interrupt()
        deadline = time.monotonic() + _CANCEL_GRACE_SECONDS
        for thread in list(self._running.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._stop_step is not None:
            # a step process that outlived the grace is killed, with what it started: its own
            # process group is out of reach of the launcher's SIGKILL of the run worker's
            for thread in self._running.values():
                if thread.is_alive():
                    self._stop_step(thread.node.name, True)
                    thread.join(_CANCEL_GRACE_SECONDS)
