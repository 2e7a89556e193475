"""Resources over one run: resolved, set up once, handed to steps, torn down at the end.

A resource has a lifecycle when it defines ``setup_for_execution(context)`` and/or
``teardown_after_execution(context)`` (a :class:`~tether.sdk.Resource` subclass, or any
object), or when it is a ``@resource`` function, which returns the value ops receive or
yields it once (the code after the ``yield`` is its teardown; a returned context manager is
entered and exited the same way). Such a resource is set up before the run's first step when
a step of the run takes it (by parameter, or as its IO manager), so a setup that raises fails
the run before any step ran, naming the resource. Any other resource is resolved when a step
first needs it, and a resource read only through ``context.resources.<name>`` is set up
then. Whatever was set up is torn down once, in reverse order, after the last step, also
when a step failed or the run was canceled; a teardown that raises is logged as an ERROR
event and changes no outcome (the steps' results are already recorded).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import DefinitionError, ResourceSetupError
from ..wire import ErrorInfo, LogMessage
from ._config import resolve_resource
from ._context import OpLogger
from ._events import RunEmitter
from ._io_manager import DEFAULT_IO_MANAGER_KEY
from ._tracebacks import user_traceback

if TYPE_CHECKING:
    from ._graph import Node


class InitResourceContext:
    """What a resource's setup and teardown receive: the run, its job, and a logger whose
    calls become the run's events."""

    __slots__ = ("job_name", "log", "resources", "run_id")

    def __init__(self, *, run_id: str, job_name: str, log: OpLogger,
                 resources: ResourcesView) -> None:
        self.run_id = run_id
        self.job_name = job_name
        self.log = log
        # the other resources, so one may build on another (set up on first use)
        self.resources = resources

    def __repr__(self) -> str:
        return f"<InitResourceContext run={self.run_id}>"


class ResourceDefinition:
    """A ``@resource`` function: called once per run that needs it, with the
    :class:`InitResourceContext` when it takes a parameter."""

    __slots__ = ("description", "fn", "name", "takes_context")

    def __init__(self, fn: Callable[..., Any], *, description: str | None = None) -> None:
        self.fn = fn
        self.name = getattr(fn, "__name__", repr(fn))
        self.description = description or inspect.getdoc(fn) or ""
        try:
            parameters = inspect.signature(fn).parameters
        except (TypeError, ValueError) as exc:
            raise DefinitionError(f"resource {self.name!r}: cannot read the function's "
                                  f"signature: {exc}") from exc
        if len(parameters) > 1:
            raise DefinitionError(f"resource {self.name!r}: a @resource function takes at most "
                                  "one parameter, the InitResourceContext")
        self.takes_context = bool(parameters)

    def __repr__(self) -> str:
        return f"<ResourceDefinition {self.name}>"


def resource(fn: Callable[..., Any]) -> ResourceDefinition:
    """Declare a resource made by a function, once per run: it returns the value ops
    receive, or yields it and cleans up after the ``yield`` (teardown runs even when a step
    failed or the run was canceled)::

        @resource
        def warehouse(context):
            connection = connect()
            yield connection
            connection.close()
    """
    return ResourceDefinition(fn)


def resource_keys(nodes: Iterable[Node], assets: Mapping[str, Any]) -> list[str]:
    """The resources the steps of ``nodes`` take, by parameter or as their IO manager (also
    the one an asset they read from outside the run is stored with)."""
    keys: list[str] = []
    for node in nodes:
        keys += node.op.resource_params
        if node.op.io_manager_key is not None:
            keys.append(node.op.io_manager_key)
        for asset_key in node.asset_inputs.values():
            asset = assets.get(asset_key)
            if asset is not None:
                keys.append(asset.op.io_manager_key or DEFAULT_IO_MANAGER_KEY)
    return keys


def has_lifecycle(value: Any) -> bool:
    """Whether ``value`` must be set up (and torn down) around the run."""
    return isinstance(value, ResourceDefinition) or any(
        callable(getattr(value, hook, None))
        for hook in ("setup_for_execution", "teardown_after_execution"))


class ResourcesView:
    """``context.resources``: each resource of the location as an attribute (or by
    ``[name]``), set up on first use."""

    __slots__ = ("_get", "_names")

    def __init__(self, get: Callable[[str], Any], names: Iterable[str]) -> None:
        self._get = get
        self._names = tuple(names)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._names:
            known = ", ".join(self._names) or "none"
            raise AttributeError(f"no resource {name!r}; defined: {known}")
        return self._get(name)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        return self._get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __dir__(self) -> list[str]:
        return list(self._names)

    def __repr__(self) -> str:
        return f"<resources {', '.join(self._names)}>"


class RunResources:
    """The resources of one run: resolved (``EnvVar`` fields read from ``environ``), set up
    and torn down as the module docstring says."""

    def __init__(self, defined: Mapping[str, Any], *, emitter: RunEmitter, job_name: str,
                 environ: Mapping[str, str] = os.environ) -> None:
        self._defined = defined
        self._emitter = emitter
        self._job_name = job_name
        self._environ = environ
        self._resolved: dict[str, Any] = {}
        # steps running in threads may ask for the same resource at once; reentrant, since a
        # setup may read another resource through its context
        self._lock = threading.RLock()
        # how to tear down each resource set up so far, in setup order
        self._teardowns: list[tuple[str, Callable[[], None]]] = []
        self.view = ResourcesView(self.get, defined.keys())

    def setup(self, names: Iterable[str]) -> None:
        """Set up those of ``names`` that have a lifecycle, in order; raises
        :class:`ResourceSetupError` for the first whose setup raises."""
        for name in dict.fromkeys(names):
            if name in self._defined and has_lifecycle(self._defined[name]):
                self.get(name)

    def get(self, name: str) -> Any:
        """The value steps receive for resource ``name``, set up on first call."""
        with self._lock:
            if name not in self._resolved:
                self._resolved[name] = self._start(name, self._defined[name])
            return self._resolved[name]

    def _context(self) -> InitResourceContext:
        return InitResourceContext(run_id=self._emitter.run_id, job_name=self._job_name,
                                   log=OpLogger(self._emitter, None), resources=self.view)

    def _start(self, name: str, defined: Any) -> Any:
        if not has_lifecycle(defined):
            # a plain resource: its EnvVar problems fail the step that needs it
            return resolve_resource(name, defined, self._environ)
        context = self._context()
        try:
            if isinstance(defined, ResourceDefinition):
                return self._call(name, defined, context)
            # a copy per run: state set up on it never leaks into the next run in this process
            value = resolve_resource(name, defined, self._environ)
            if value is defined and _copyable(value):
                value = _copy(value)
            setup = getattr(value, "setup_for_execution", None)
            if callable(setup):
                setup(context)
        except Exception as exc:
            raise ResourceSetupError(name, exc) from exc
        teardown = getattr(value, "teardown_after_execution", None)
        if callable(teardown):
            self._teardowns.append((name, lambda: teardown(context)))
        return value

    def _call(self, name: str, definition: ResourceDefinition,
              context: InitResourceContext) -> Any:
        made = definition.fn(context) if definition.takes_context else definition.fn()
        if inspect.isgenerator(made):
            generator: Generator[Any, None, None] = made  # type: ignore[assignment]
            value = next(generator)
            self._teardowns.append((name, lambda: _finish(name, generator)))
            return value
        if isinstance(made, contextlib.AbstractContextManager):
            manager = made
            value = manager.__enter__()
            self._teardowns.append((name, lambda: manager.__exit__(None, None, None)))
            return value
        return made

    def teardown(self) -> None:
        """Tear down every resource set up, last first; each teardown that raises becomes
        an ERROR event naming the resource."""
        while self._teardowns:
            name, teardown = self._teardowns.pop()
            try:
                teardown()
            except Exception as exc:
                error = ErrorInfo(class_name=type(exc).__name__, message=str(exc),
                                  stack=user_traceback(exc))
                self._emitter.emit(
                    LogMessage, level="ERROR", step_key=None,
                    message=f"resource {name!r} failed to tear down: {error.class_name}: "
                            f"{error.message}\n{error.stack}".rstrip())

    def __enter__(self) -> RunResources:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.teardown()


def _finish(name: str, generator: Generator[Any, None, None]) -> None:
    try:
        next(generator)
    except StopIteration:
        return
    generator.close()
    raise DefinitionError(f"resource {name!r} yielded more than once; a @resource function "
                          "yields its value once")


def _copyable(value: Any) -> bool:
    return isinstance(value, msgspec.Struct)


def _copy(value: Any) -> Any:
    return msgspec.structs.replace(value)
