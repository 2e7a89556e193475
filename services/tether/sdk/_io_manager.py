"""IO managers: what stores each step's output and loads it for the steps downstream.

A user declares one as a resource (``Definitions(resources={"warehouse": WarehouseIO()})``)
and names it on an op or asset (``io_manager_key="warehouse"``); the resource ``io_manager``
replaces the default, which pickles outputs under the agent's storage folder. An
IO manager runs in the run worker, in the user's environment: the control plane never sees a
value. To combine one with :class:`~tether.sdk.Resource` fields (and ``EnvVar`` values),
inherit from both: ``class WarehouseIO(Resource, IOManager): dsn: str``.
"""

from __future__ import annotations

from typing import Any

# the resource key of the IO manager that ops and assets use unless they name another
DEFAULT_IO_MANAGER_KEY = "io_manager"
# the name of an op's (single) output
RESULT = "result"


class OutputContext:
    """Which output is stored or loaded: the code location, the run that made it, its step
    and output name, its asset key (None for an op's output), and the asset partition it is
    (None: the asset is not partitioned). An IO manager stores each partition apart.

    The output of a ranged run (a backfill of an asset with a ``BackfillPolicy``) is one
    value covering the range: ``partition_key`` is None and ``partition_key_range`` holds the
    first and last partition; the default IO managers store it once, under ``stored_partition``
    (``"<first>...<last>"``)."""

    __slots__ = ("asset_key", "job_name", "location", "name", "partition_key",
                 "partition_key_range", "run_id", "step_key")

    def __init__(self, *, location: str, run_id: str, job_name: str, step_key: str,
                 asset_key: str | None, name: str = RESULT,
                 partition_key: str | None = None,
                 partition_key_range: tuple[str, str] | None = None) -> None:
        self.partition_key = partition_key
        self.partition_key_range = partition_key_range
        self.location = location
        self.run_id = run_id
        self.job_name = job_name
        self.step_key = step_key
        self.name = name
        self.asset_key = asset_key

    def __repr__(self) -> str:
        what = f"asset={self.asset_key}" if self.asset_key else f"step={self.step_key}"
        if self.stored_partition is not None:
            what += f" partition={self.stored_partition}"
        return f"<OutputContext run={self.run_id} {what} output={self.name}>"

    @property
    def has_partition_key(self) -> bool:
        return self.partition_key is not None

    @property
    def has_partition_key_range(self) -> bool:
        return self.partition_key_range is not None

    @property
    def stored_partition(self) -> str | None:
        """What the output is stored as: its partition key, ``"<first>...<last>"`` for the
        value of a ranged run, None for an unpartitioned one."""
        if self.partition_key_range is not None:
            return "...".join(self.partition_key_range)
        return self.partition_key


class InputContext:
    """The input to load: its parameter name, the step that takes it, and ``upstream_output``,
    the output it was stored as (its run is the one that made it: for an asset, the run that
    materialized it last, which the IO manager finds by key)."""

    __slots__ = ("asset_key", "name", "partition_key", "run_id", "step_key", "upstream_output")

    def __init__(self, *, name: str, run_id: str, step_key: str,
                 upstream_output: OutputContext) -> None:
        self.name = name
        self.run_id = run_id
        self.step_key = step_key
        self.upstream_output = upstream_output
        self.asset_key = upstream_output.asset_key
        # the upstream partition to load (an input that reads several loads each in turn)
        self.partition_key = upstream_output.partition_key

    def __repr__(self) -> str:
        return f"<InputContext step={self.step_key} input={self.name} from {self.upstream_output}>"


class IOManager:
    """Base class of an IO manager: ``handle_output`` stores a step's output, ``load_input``
    loads it for a step downstream, in this run or a later one."""

    __slots__ = ()

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define handle_output")

    def load_input(self, context: InputContext) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define load_input")
