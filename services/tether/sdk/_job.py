"""``@job``: a graph of ops, written as a Python function whose body calls them."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

from ..errors import DefinitionError
from ._compose import compose
from ._config import check_tags
from ._graph import JobDefinition
from ._hooks import HookDefinition, check_hooks
from ._parallel import Executor
from ._partitions import PartitionsDefinition, check_partitions_def


def _build_job(fn: Callable[..., Any], name: str | None, description: str | None,
               hooks: Iterable[HookDefinition] = (),
               tags: Mapping[str, str] | None = None,
               executor: Executor | None = None,
               partitions_def: PartitionsDefinition | None = None) -> JobDefinition:
    job_name = name or fn.__name__
    if inspect.signature(fn).parameters:
        raise DefinitionError(f"job {job_name!r}: a job function takes no parameters")
    nodes = compose(job_name, fn)
    return JobDefinition(job_name, nodes, description=description or inspect.getdoc(fn) or "",
                         hooks=check_hooks(hooks, f"job {job_name!r}"),
                         tags=check_tags(tags, f"job {job_name!r}"), executor=executor,
                         partitions_def=check_partitions_def(partitions_def,
                                                             f"job {job_name!r}"))


@overload
def job(fn: Callable[..., Any], /) -> JobDefinition: ...


@overload
def job(
    *, name: str | None = None, description: str | None = None,
    hooks: Iterable[HookDefinition] = (),
    tags: Mapping[str, str] | None = None,
    executor: Executor | None = None,
    partitions_def: PartitionsDefinition | None = None,
) -> Callable[[Callable[..., Any]], JobDefinition]: ...


def job(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    hooks: Iterable[HookDefinition] = (),
    tags: Mapping[str, str] | None = None,
    executor: Executor | None = None,
    partitions_def: PartitionsDefinition | None = None,
) -> JobDefinition | Callable[[Callable[..., Any]], JobDefinition]:
    """Declare a job: the body calls ops and passes their outputs to one another.

    The body runs once, when the decorator is applied, to record the graph; a wiring mistake
    raises :class:`~tether.errors.DefinitionError` naming the job and the op.
    ``hooks`` (``@success_hook`` / ``@failure_hook`` functions) are called after each step;
    ``tags`` are the default tags of the job's runs (a launch's own tags win). ``executor``
    chooses how its steps run (``Executor("thread", max_concurrent=4)``; the run config's
    ``execution`` section overrides it). With ``partitions_def``, each run is of one
    partition (``context.partition_key``).
    """
    if fn is not None:
        return _build_job(fn, None, None)

    def decorate(function: Callable[..., Any]) -> JobDefinition:
        return _build_job(function, name, description, hooks, tags, executor,
                          partitions_def)

    return decorate
