"""Hooks: the user's functions called after a step's outcome is recorded.

``@success_hook`` functions run after a step succeeded, ``@failure_hook`` ones after it
failed (a skipped or canceled step calls neither). A hook is attached to one op invocation
(``my_op.with_hooks({notify})()`` in a job body) or to every step of a job
(``@job(hooks={notify})``). It receives a :class:`HookContext`: the run, the step, the
step's error for a failure, the run's resources and a logger. A hook that raises is logged
as a WARNING event of the step and changes nothing: the step's outcome is already recorded.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, overload

from ..errors import DefinitionError
from ..wire import ErrorInfo, LogMessage
from ._context import OpLogger
from ._tracebacks import user_traceback

if TYPE_CHECKING:
    from ._events import RunEmitter
    from ._graph import JobDefinition, Node

HookKind = Literal["success", "failure"]


class HookContext:
    """What a hook receives: ``run_id``, ``job_name``, ``step_key``, ``op_name``, ``error``
    (the step's error, with the user's traceback, for a failure hook; None otherwise),
    ``resources`` and ``log``."""

    __slots__ = ("error", "hook_name", "job_name", "log", "op_name", "resources", "run_id",
                 "step_key")

    def __init__(self, *, run_id: str, job_name: str, step_key: str, op_name: str,
                 hook_name: str, error: ErrorInfo | None, resources: Any,
                 log: OpLogger) -> None:
        self.run_id = run_id
        self.job_name = job_name
        self.step_key = step_key
        self.op_name = op_name
        self.hook_name = hook_name
        self.error = error
        self.resources = resources
        self.log = log

    def __repr__(self) -> str:
        return f"<HookContext hook={self.hook_name} step={self.step_key}>"


class HookDefinition:
    """A ``@success_hook`` or ``@failure_hook`` function."""

    __slots__ = ("fn", "kind", "name")

    def __init__(self, fn: Callable[[HookContext], Any], *, kind: HookKind,
                 name: str | None = None) -> None:
        self.fn = fn
        self.kind: HookKind = kind
        self.name: str = name or str(getattr(fn, "__name__", repr(fn)))
        try:
            count = len(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            count = 1
        if count != 1:
            raise DefinitionError(f"{kind} hook {self.name!r}: a hook takes one parameter, "
                                  "the HookContext")

    def __repr__(self) -> str:
        return f"<HookDefinition {self.kind} {self.name}>"

    def __call__(self, context: HookContext) -> Any:
        return self.fn(context)


def _hook_decorator(kind: HookKind, fn: Callable[[HookContext], Any] | None,
                    name: str | None) -> Any:
    if fn is not None:
        return HookDefinition(fn, kind=kind, name=name)
    return lambda function: HookDefinition(function, kind=kind, name=name)


@overload
def success_hook(fn: Callable[[HookContext], Any], /) -> HookDefinition: ...
@overload
def success_hook(*, name: str | None = None
                 ) -> Callable[[Callable[[HookContext], Any]], HookDefinition]: ...
def success_hook(fn: Callable[[HookContext], Any] | None = None, /, *,
                 name: str | None = None) -> Any:
    """Declare a hook called after each step it is attached to succeeds."""
    return _hook_decorator("success", fn, name)


@overload
def failure_hook(fn: Callable[[HookContext], Any], /) -> HookDefinition: ...
@overload
def failure_hook(*, name: str | None = None
                 ) -> Callable[[Callable[[HookContext], Any]], HookDefinition]: ...
def failure_hook(fn: Callable[[HookContext], Any] | None = None, /, *,
                 name: str | None = None) -> Any:
    """Declare a hook called after each step it is attached to fails."""
    return _hook_decorator("failure", fn, name)


def check_hooks(hooks: Iterable[Any], owner: str) -> tuple[HookDefinition, ...]:
    """``hooks`` as a tuple, each one a hook (a mistake is named at definition time)."""
    checked = tuple(hooks)
    for hook in checked:
        if not isinstance(hook, HookDefinition):
            raise DefinitionError(f"{owner}: hooks are @success_hook or @failure_hook "
                                  f"functions, got {hook!r}")
    return checked


def run_hooks(*, job: JobDefinition, node: Node, error: ErrorInfo | None,
              emitter: RunEmitter, resources: Any) -> None:
    """Call the hooks of ``node`` (its op's, then the job's) that match the step's outcome."""
    kind: HookKind = "success" if error is None else "failure"
    hooks = [h for h in (*node.op.hooks, *job.hooks) if h.kind == kind]
    for hook in dict.fromkeys(hooks):
        log = OpLogger(emitter, node.name)
        context = HookContext(run_id=emitter.run_id, job_name=job.name, step_key=node.name,
                              op_name=node.op.name, hook_name=hook.name, error=error,
                              resources=resources, log=log)
        try:
            hook(context)
        except Exception as exc:
            stack = user_traceback(exc)
            emitter.emit(LogMessage, level="WARNING", step_key=node.name,
                         message=f"{kind} hook {hook.name!r} of step {node.name} raised "
                                 f"{type(exc).__name__}: {exc}\n{stack}".rstrip())
