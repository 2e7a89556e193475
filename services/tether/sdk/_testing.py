"""Running definitions inside a test: ``materialize``, ``JobDefinition.execute_in_process``
and ``build_op_context``, what a project's unit tests call.

A run here is a real run of the executor (the same events, resources set up and torn down,
IO managers), in this process, with outputs kept in memory unless the test gives an
``io_manager`` resource, so a test leaves no files behind. The result holds the run's events
and reads each step's output back through the IO manager that stored it.

``import tether`` does not import this module's dependencies: the executor is imported when
a helper is called.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DefinitionError
from ..wire import AssetCheckEvaluation, RunEvent, RunFailure, StepFailure
from ._config import resolve_resource
from ._context import OpContext
from ._events import RunEmitter
from ._io_manager import DEFAULT_IO_MANAGER_KEY, RESULT, InputContext, IOManager, OutputContext
from ._resources import RunResources

if TYPE_CHECKING:
    from ._asset import AssetDefinition
    from ._checks import AssetCheckDefinition
    from ._graph import JobDefinition
    from ._multi_asset import AssetSpec, MultiAssetDefinition
    from ._selection import AssetSelection

# the job ``materialize`` runs its assets as
MATERIALIZE_JOB = "__materialize"


class ExecuteInProcessResult:
    """The outcome of an in-process run: ``success``, every event (``events``), the
    events of each step, and each step's output and each asset's value."""

    __slots__ = ("_defs", "_job", "events", "run_id", "success")

    def __init__(self, *, success: bool, events: list[RunEvent], run_id: str,
                 job: JobDefinition, defs: Any) -> None:
        self.success = success
        self.events = events
        self.run_id = run_id
        self._job = job
        self._defs = defs

    def __repr__(self) -> str:
        return (f"<ExecuteInProcessResult job={self._job.name} success={self.success} "
                f"events={len(self.events)}>")

    @property
    def job_name(self) -> str:
        return self._job.name

    @property
    def all_node_events(self) -> list[RunEvent]:
        """The events of the run's steps (those with a step key), in order."""
        return [event for event in self.events if event.step_key is not None]

    def events_for_node(self, name: str) -> list[RunEvent]:
        return [event for event in self.events if event.step_key == name]

    @property
    def step_failures(self) -> list[StepFailure]:
        return [event for event in self.events if isinstance(event, StepFailure)]

    def get_asset_check_evaluations(self) -> list[AssetCheckEvaluation]:
        """The results of the asset checks the run evaluated, in order."""
        return [event for event in self.events if isinstance(event, AssetCheckEvaluation)]

    def asset_check_evaluation(self, asset_key: Any, check_name: str) -> AssetCheckEvaluation:
        """The result of the check ``check_name`` of ``asset_key`` in this run."""
        from ._asset_key import coerce_key

        key = coerce_key(asset_key, "asset_check_evaluation").to_string()
        found = [event for event in self.get_asset_check_evaluations()
                 if (event.asset_key, event.check_name) == (key, check_name)]
        if not found:
            done = ", ".join(f"{e.check_name} of {e.asset_key}"
                             for e in self.get_asset_check_evaluations()) or "none"
            raise DefinitionError(f"this run evaluated no check {check_name!r} of asset "
                                  f"{key!r} (it evaluated: {done})")
        return found[-1]

    def output_for_node(self, name: str, output_name: str = RESULT) -> Any:
        """The output of step ``name``, loaded from the IO manager that stored it."""
        try:
            node = self._job.node(name)
        except KeyError:
            known = ", ".join(n.name for n in self._job.nodes)
            raise DefinitionError(f"job {self._job.name!r} has no step {name!r} (its steps: "
                                  f"{known})") from None
        key = node.op.io_manager_key
        if key is None:
            raise DefinitionError(
                f"step {name} keeps its output in the run's memory (io_manager_key=None), "
                "which ends with the run; give it an IO manager to read it in a test")
        upstream = OutputContext(location="local", run_id=self.run_id, job_name=self._job.name,
                                 step_key=name, asset_key=node.asset_key, name=output_name)
        return self._load(key, upstream, name)

    def asset_value(self, asset_key: Any, partition_key: str | None = None) -> Any:
        """The value of the asset ``asset_key`` (a string, a list of parts or an AssetKey),
        loaded from its IO manager (its partition ``partition_key``, if partitioned)."""
        from ._asset_key import coerce_key

        key = coerce_key(asset_key, "asset_value").to_string()
        definition = self._defs.assets.get(key)
        if definition is None:
            raise DefinitionError(f"no asset {key!r} in this run's definitions")
        upstream = OutputContext(location="local", run_id="", job_name="",
                                 step_key=definition.asset_key.node_name, asset_key=key,
                                 partition_key=partition_key)
        return self._load(definition.op.io_manager_key or DEFAULT_IO_MANAGER_KEY, upstream,
                          definition.asset_key.node_name)

    def _load(self, key: str, upstream: OutputContext, step: str) -> Any:
        manager = resolve_resource(key, self._defs.resources[key], os.environ)
        if not isinstance(manager, IOManager):
            # a @resource function's IO manager was torn down with the run
            raise DefinitionError(f"resource {key!r} is not an IOManager instance, so the "
                                  "result cannot read back what it stored after the run")
        return manager.load_input(InputContext(name=upstream.name, run_id=self.run_id,
                                               step_key=step, upstream_output=upstream))


def execute_in_process(
    job: JobDefinition,
    *,
    run_config: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    raise_on_error: bool = True,
    run_id: str | None = None,
    assets: Iterable[Any] = (),
    partition_key: str | None = None,
) -> ExecuteInProcessResult:
    """Run ``job`` in this process with ``resources`` and return its result. With
    ``raise_on_error`` (the default), the first step's error is raised as the step raised
    it (or the error that failed the run before its first step)."""
    from ._definitions import Definitions

    given = dict(resources or {})
    # in memory unless the test brings its own: a unit test leaves no files behind
    given.setdefault(DEFAULT_IO_MANAGER_KEY, _in_memory())
    defs = Definitions(jobs=[job], assets=list(assets), resources=given)
    return _execute(defs, defs.get_job(job.name), run_config, raise_on_error, run_id,
                    partition_key)


def materialize(
    assets: Sequence[AssetDefinition | MultiAssetDefinition | AssetSpec | AssetCheckDefinition],
    *,
    resources: Mapping[str, Any] | None = None,
    run_config: Mapping[str, Any] | None = None,
    selection: AssetSelection | Any | None = None,
    raise_on_error: bool = True,
    run_id: str | None = None,
    partition_key: str | None = None,
) -> ExecuteInProcessResult:
    """Materialize ``assets`` (or the ``selection`` of them) in this process, in dependency
    order, and return the result: ``result.asset_value("key")`` reads an asset back. The
    ``@asset_check`` s among ``assets`` run after their asset;
    ``result.get_asset_check_evaluations()`` lists every check's result."""
    from ._asset import define_asset_job
    from ._definitions import Definitions

    given = dict(resources or {})
    given.setdefault(DEFAULT_IO_MANAGER_KEY, _in_memory())
    defs = Definitions(assets=list(assets), resources=given,
                       jobs=[define_asset_job(MATERIALIZE_JOB, selection)])
    return _execute(defs, defs.get_job(MATERIALIZE_JOB), run_config, raise_on_error, run_id,
                    partition_key)


def _in_memory() -> IOManager:
    from ._storage import InMemoryIOManager

    return InMemoryIOManager()


def _execute(defs: Any, job: JobDefinition, run_config: Mapping[str, Any] | None,
             raise_on_error: bool, run_id: str | None,
             partition: str | None = None) -> ExecuteInProcessResult:
    from ._executor import execute_job

    events: list[RunEvent] = []
    errors: list[BaseException] = []

    def sink(event: RunEvent) -> None:
        events.append(event)
        if isinstance(event, StepFailure | RunFailure):
            # the executor emits a failure while it handles the error: the exception is the
            # one being handled, with the user's own traceback, to raise as it was raised
            handled = sys.exc_info()[1]
            if handled is not None:
                errors.append(handled)

    emitter = RunEmitter(run_id=run_id or str(uuid.uuid4()), attempt=1, sink=sink)
    success = execute_job(defs, job.name, emitter=emitter, run_config=run_config,
                          partition=partition)
    if not success and raise_on_error and errors:
        raise errors[0]
    return ExecuteInProcessResult(success=success, events=events, run_id=emitter.run_id,
                                  job=job, defs=defs)


class TestOpContext(OpContext):
    """The context ``build_op_context`` makes: an ``OpContext`` whose log calls are kept in
    ``events`` and whose resources are torn down when its ``with`` block ends."""

    __test__ = False  # not a pytest test class
    __slots__ = ("_resources", "events")
    _resources: RunResources
    events: list[RunEvent]

    def __enter__(self) -> TestOpContext:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._resources.teardown()


def build_op_context(
    *,
    resources: Mapping[str, Any] | None = None,
    op_config: Mapping[str, Any] | None = None,
    run_config: Mapping[str, Any] | None = None,
    op_name: str = "op",
    job_name: str = "job",
    run_id: str | None = None,
) -> TestOpContext:
    """A context to call an op's function with directly (``my_op(build_op_context(...))``):
    ``context.resources`` set up from ``resources`` (torn down at the end of a ``with``
    block), ``context.op_config`` from ``op_config``, and ``context.log`` calls kept in
    ``context.events``."""
    events: list[RunEvent] = []
    emitter = RunEmitter(run_id=run_id or str(uuid.uuid4()), attempt=1, sink=events.append)
    config: dict[str, Any] = dict(run_config or {})
    if op_config is not None:
        config = {**config, "ops": {**config.get("ops", {}), op_name: {"config": op_config}}}
    defined = dict(resources or {})
    run_resources = RunResources(defined, emitter=emitter, job_name=job_name)
    # set up now, as a run would before its first step: a setup error surfaces here
    run_resources.setup(defined)
    context = TestOpContext(emitter=emitter, job_name=job_name, op_name=op_name,
                            step_key=op_name, run_config=config, resources=run_resources.view)
    context.events = events
    context._resources = run_resources
    return context
