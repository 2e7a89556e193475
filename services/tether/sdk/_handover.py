"""How a step's output reaches the steps downstream: through the IO manager of the op or
asset that made it (stored, so a later run can load it too), or, for an output with
``io_manager_key=None``, through this run's memory only.

An input whose upstream step runs in this run is loaded from this run's storage; one whose
upstream step the step selection leaves out (a re-execution from failure) from the run that
made it (``input_runs``, chosen by the control plane, default this run); one fed by an asset
outside an asset job from the asset's latest materialization.

In a partitioned run, an asset's output is stored as its partition (``partition_key``), and
an input fed by a partitioned asset loads the upstream partitions its partition mapping
picks (:func:`tether.partitions.upstream_keys`): the value of one, or a dict of them by key.
A ranged run (a backfill of assets with a ``BackfillPolicy``) stores each asset's value once,
covering its range (``OutputContext.partition_key_range``); a step of the run loads that value
of an upstream asset of the same run, and the upstream partitions every partition of the range
reads for one it does not run.

Each output is stored under its own name (``OutputContext.name``). The handover also keeps
which outputs each step of this run produced: a step that takes an output that was not
produced (an optional one left out, or one of a skipped step) is skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple

from .. import partitions
from ..errors import DefinitionError, OutputNotProduced, StoredOutputNotFound
from ._graph import JobDefinition, Node
from ._io_manager import DEFAULT_IO_MANAGER_KEY, InputContext, IOManager, OutputContext
from ._outs import Produced, base_name


class StepOutputs(NamedTuple):
    """What a step produced: its outputs' names (and stored names, ``items[a]``), and the
    mapping keys of its DynamicOut values in the order it yielded them."""

    names: frozenset[str]
    mapping_keys: tuple[str, ...] = ()


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
        partition: str | None = None,
        dynamic: Mapping[str, Sequence[str]] | None = None,
        partition_keys: Sequence[str] = (),
    ) -> None:
        self._job = job
        # the partitions of a ranged run, first to last (empty: not ranged)
        self._range_keys = tuple(partition_keys)
        # the keys of the dynamic partitions definitions, by name (from the run's launch)
        self._dynamic = dynamic or {}
        # the run's partition of its job (None: not partitioned)
        self._partition = partition
        self._assets = assets
        # the asset whose partitions and mappings apply to a step that materializes none
        # itself: a multi-asset's step (any of its assets: they share them) or an op of a
        # graph asset's graph (its steps are keyed "<asset step>.<op>")
        self._owners: dict[str, Any] = {}
        for asset in assets.values():
            if getattr(asset, "computed_by", None):
                self._owners.setdefault(asset.computed_by, asset)
            elif getattr(asset, "graph", None) is not None:
                self._owners[asset.asset_key.node_name] = asset
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
        # outputs with io_manager_key=None, by step and output name
        self._memory: dict[tuple[str, str], Any] = {}
        # the outputs each step of this run produced, once it succeeded
        self._produced: dict[str, set[str]] = {}
        # the mapping keys of each step's DynamicOut values, in the order it yielded them
        self._mapping_keys: dict[str, list[str]] = {}

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

    def _output(self, node: Node, run_id: str, output: str,
                step_key: str | None = None, partition: str | None = None) -> OutputContext:
        ranged = self._range_keys and partition is None and self._partitions_of(
            node.asset_key) is not None
        return OutputContext(location=self._location, run_id=run_id, job_name=self._job.name,
                             step_key=step_key or node.name, asset_key=node.asset_key,
                             name=output, partition_key=partition,
                             partition_key_range=((self._range_keys[0], self._range_keys[-1])
                                                  if ranged else None))

    def _partitions_of(self, asset_key: str | None) -> Any:
        """The partitions definition of ``asset_key`` (None: not an asset, or unpartitioned)."""
        asset = self._assets.get(asset_key) if asset_key is not None else None
        return None if asset is None else asset.partitions_def

    def asset_partition(self, asset_key: str | None) -> str | None:
        """The partition of ``asset_key`` this run materializes: the run's, for a partitioned
        asset; None for an unpartitioned one."""
        return self._partition if self._partitions_of(asset_key) is not None else None

    def asset_partitions(self, asset_key: str | None) -> list[str | None]:
        """The partitions of ``asset_key`` this run materializes: the run's (every one of
        its range, for a ranged run) for a partitioned asset; [None] for an unpartitioned."""
        if self._range_keys and self._partitions_of(asset_key) is not None:
            return list(self._range_keys)
        return [self.asset_partition(asset_key)]

    def _upstream_partitions(self, node: Node, upstream_key: str) -> list[str] | None:
        """The partitions of asset ``upstream_key`` that ``node`` reads; None: the upstream
        is not partitioned (one value)."""
        upstream = self._partitions_of(upstream_key)
        if upstream is None:
            return None
        asset = self._owner(node)
        if asset is not None:
            downstream = asset.partitions_def
        else:
            # an op of an op job, or of an asset job: it runs for the job's partition
            downstream = None if node.asset_key is not None else self._job.partitions_def
        mapping = asset.partition_mappings.get(upstream_key) if asset is not None else None
        keys: list[str | None] = ([None] if downstream is None
                                  else list(self._range_keys) or [self._partition])
        # a ranged run reads what each partition of its range reads, each upstream key once
        return list(dict.fromkeys(key for each in keys for key in partitions.upstream_keys(
            None if mapping is None else mapping.snapshot,
            downstream=None if downstream is None else downstream.snapshot, key=each,
            upstream=upstream.snapshot, now=time.time(), dynamic=self._dynamic)))

    def _owner(self, node: Node) -> Any:
        """The asset ``node`` computes (None: an op of no asset)."""
        if node.asset_key is not None:
            return self._assets.get(node.asset_key)
        name = base_name(node.name)
        return self._owners.get(name) or self._owners.get(name.partition(".")[0])

    def _load_partitions(self, load: Callable[[str | None], Any], keys: list[str] | None
                         ) -> Any:
        """One value for an unpartitioned upstream or a single partition; a dict by key
        for several."""
        if keys is None:
            return load(None)
        if len(keys) == 1:
            return load(keys[0])
        return {key: load(key) for key in keys}

    def store(self, node: Node, output: str, value: Any) -> None:
        key = node.op.output_manager(output)
        if key is None:
            self._memory[node.name, output] = value
            return
        self.manager(key).handle_output(self._output(
            node, self._run_id, output, partition=self.asset_partition(node.asset_key)), value)

    def produced(self, step_key: str, made: Collection[Produced]) -> None:
        """Record that ``step_key`` succeeded, producing ``made``."""
        self._produced[step_key] = {output.name for output in made} | {
            output.stored_name for output in made}
        keys = [output.mapping_key for output in made if output.mapping_key is not None]
        if keys:
            self._mapping_keys[step_key] = keys

    def outputs_of(self, step_key: str) -> StepOutputs | None:
        """What ``step_key`` produced (None: it did not succeed here), for a step process
        to hand to the run worker."""
        names = self._produced.get(step_key)
        if names is None:
            return None
        return StepOutputs(names=frozenset(names),
                           mapping_keys=tuple(self._mapping_keys.get(step_key, ())))

    def produced_elsewhere(self, step_key: str, outputs: StepOutputs) -> None:
        """Record what ``step_key`` produced in a step process of its own: the steps that
        take an optional output it left out are skipped, and a DynamicOut's values fan out."""
        self._produced[step_key] = set(outputs.names)
        if outputs.mapping_keys:
            self._mapping_keys[step_key] = list(outputs.mapping_keys)

    def mapping_keys(self, step_key: str) -> list[str] | None:
        """The mapping keys ``step_key`` produced for its DynamicOut in this run."""
        return self._mapping_keys.get(step_key)

    def _in_run(self, step_key: str) -> bool:
        # a copy of a mapped step ("process[a]") runs in the run its template is part of
        return base_name(step_key) in self._running

    def skip_reason(self, node: Node) -> str | None:
        """Why ``node`` cannot run although no step upstream failed: an output it takes from
        a step of this run was not produced. None when it can run."""
        for name, upstream_name in node.inputs.items():
            reason = self._not_produced(upstream_name, node.source(name)[1])
            if reason is not None:
                return f"input {name!r} takes {reason}"
        for name, pairs in node.fan_in.items():
            for upstream_name, output in pairs:
                reason = self._not_produced(upstream_name, output)
                if reason is not None:
                    return f"input {name!r} gathers {reason}"
        for upstream_name in node.after:
            if upstream_name in self._running and upstream_name not in self._produced:
                return f"upstream step {upstream_name} was skipped"
        return None

    def _not_produced(self, step_key: str, output: str) -> str | None:
        if not self._in_run(step_key):
            return None
        made = self._produced.get(step_key)
        if made is None:
            return f"the output of step {step_key}, which was skipped"
        if output not in made:
            return f"output {output!r} of step {step_key}, which it did not produce"
        return None

    def _load(self, node: Node, name: str, upstream_name: str, output: str) -> Any:
        upstream = self._job.node(base_name(upstream_name))
        key = upstream.op.output_manager(output)
        if key is None:
            # the job's step selection made sure it ran in this run
            return self._memory[upstream_name, output]
        in_run = self._in_run(upstream_name)
        run_id = self._run_id if in_run else self._input_runs.get(upstream_name, self._run_id)
        manager = self.manager(key)

        def load(partition: str | None) -> Any:
            # a copy of a mapped step ("process[a]") is stored under its own key
            context = self._output(upstream, run_id, output, step_key=upstream_name,
                                   partition=partition)
            return manager.load_input(InputContext(
                name=name, run_id=self._run_id, step_key=node.name, upstream_output=context))

        keys = (None if upstream.asset_key is None
                else self._upstream_partitions(node, upstream.asset_key))
        if keys is not None and self._range_keys:
            # a ranged run (or the run of the same range it re-executes) stored the upstream
            # asset's value once, for the whole range
            keys = None
        try:
            return self._load_partitions(load, keys)
        except StoredOutputNotFound as exc:
            if upstream.op.outs[base_name(output)].is_required or in_run:
                raise
            raise OutputNotProduced(
                f"input {name!r} takes optional output {output!r} of step "
                f"{upstream_name}, which run {run_id} did not produce") from exc

    def load_inputs(self, node: Node) -> dict[str, Any]:
        """The value of each of ``node``'s wired inputs that passes one, by parameter name.

        Raises :class:`OutputNotProduced` for an optional output that the run it is loaded
        from did not store (that run did not produce it)."""
        values: dict[str, Any] = {}
        for name, (upstream_name, output) in node.value_inputs.items():
            values[name] = self._load(node, name, upstream_name, output)
        for name, pairs in node.fan_in.items():
            values[name] = [self._load(node, name, upstream_name, output)
                            for upstream_name, output in pairs]
        for name, asset_key in node.asset_inputs.items():
            asset = self._assets[asset_key]
            # the asset job refused a selection that leaves out an unstored asset
            manager = self.manager(asset.op.io_manager_key or DEFAULT_IO_MANAGER_KEY)

            def load(partition: str | None, asset: Any = asset, asset_key: str = asset_key,
                     manager: IOManager = manager, name: str = name) -> Any:
                # an asset is stored by key: which run made it is the IO manager's business
                upstream_output = OutputContext(
                    location=self._location, run_id="", job_name="",
                    step_key=asset.asset_key.node_name, asset_key=asset_key,
                    partition_key=partition)
                return manager.load_input(InputContext(
                    name=name, run_id=self._run_id, step_key=node.name,
                    upstream_output=upstream_output))

            values[name] = self._load_partitions(load,
                                                 self._upstream_partitions(node, asset_key))
        return values
