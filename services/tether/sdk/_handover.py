"""How a step's output reaches the steps downstream: through the IO manager of the op or
asset that made it (stored, so a later run can load it too), or, for an output with
``io_manager_key=None``, through this run's memory only.

An input whose upstream step runs in this run is loaded from this run's storage; one whose
upstream step the step selection leaves out (a re-execution from failure) from the run that
made it (``input_runs``, chosen by the control plane, default this run); one fed by an asset
outside an asset job from the asset's latest materialization.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..errors import DefinitionError
from ._graph import JobDefinition, Node
from ._io_manager import DEFAULT_IO_MANAGER_KEY, InputContext, IOManager, OutputContext


class Handover:
    """Stores the outputs of one run's steps and loads their inputs."""

    def __init__(
        self,
        *,
        job: JobDefinition,
        assets: Mapping[str, Any],
        resource: Callable[[str], Any],
        defined: Collection[str],
        location: str,
        run_id: str,
        storage_dir: str | None,
        running: Collection[str],
        input_runs: Mapping[str, str],
    ) -> None:
        self._job = job
        self._assets = assets
        self._resource = resource
        self._defined = defined
        self._location = location
        self._run_id = run_id
        self._storage_dir = storage_dir
        self._running = running
        self._input_runs = input_runs
        self._managers: dict[str, IOManager] = {}
        # steps running side by side must share one manager per key (an in-memory one
        # made twice would lose the outputs stored in the other)
        self._lock = threading.Lock()
        # outputs with io_manager_key=None, by step
        self._memory: dict[str, Any] = {}

    def manager(self, key: str) -> IOManager:
        """The IO manager of resource ``key``; the default one when ``io_manager`` is not
        a resource of the location."""
        found = self._managers.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._managers.get(key)
            return found if found is not None else self._make_manager(key)

    def _make_manager(self, key: str) -> IOManager:
        found: IOManager
        if key in self._defined:
            found = self._resource(key)
            if not isinstance(found, IOManager):
                raise DefinitionError(f"resource {key!r} is used as an IO manager but is a "
                                      f"{type(found).__name__}, not an IOManager")
        elif key == DEFAULT_IO_MANAGER_KEY:
            # imported here: pickle and the file IO are a run's business, not `import tether`'s
            from ._storage import InMemoryIOManager, PickleIOManager

            found = (InMemoryIOManager() if self._storage_dir is None
                     else PickleIOManager(self._storage_dir))
        else:
            raise DefinitionError(f"no resource {key!r} to store outputs with")
        self._managers[key] = found
        return found

    def _output(self, node: Node, run_id: str) -> OutputContext:
        return OutputContext(location=self._location, run_id=run_id, job_name=self._job.name,
                             step_key=node.name, asset_key=node.asset_key)

    def store(self, node: Node, value: Any) -> None:
        key = node.op.io_manager_key
        if key is None:
            self._memory[node.name] = value
            return
        self.manager(key).handle_output(self._output(node, self._run_id), value)

    def load_inputs(self, node: Node) -> dict[str, Any]:
        """The value of each of ``node``'s wired inputs, by parameter name."""
        values: dict[str, Any] = {}
        for name, upstream_name in node.inputs.items():
            upstream = self._job.node(upstream_name)
            key = upstream.op.io_manager_key
            if key is None:
                # the job's step selection made sure it ran in this run
                values[name] = self._memory[upstream_name]
                continue
            run_id = (self._run_id if upstream_name in self._running
                      else self._input_runs.get(upstream_name, self._run_id))
            values[name] = self.manager(key).load_input(InputContext(
                name=name, run_id=self._run_id, step_key=node.name,
                upstream_output=self._output(upstream, run_id)))
        for name, asset_key in node.asset_inputs.items():
            asset = self._assets[asset_key]
            # the asset job refused a selection that leaves out an unstored asset
            key = asset.op.io_manager_key or DEFAULT_IO_MANAGER_KEY
            # an asset is stored by key: which run made it is the IO manager's business
            upstream_output = OutputContext(location=self._location, run_id="",
                                            job_name="", step_key=asset.asset_key.node_name,
                                            asset_key=asset_key)
            values[name] = self.manager(key).load_input(InputContext(
                name=name, run_id=self._run_id, step_key=node.name,
                upstream_output=upstream_output))
        return values
