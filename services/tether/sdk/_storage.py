"""The IO managers Tether brings: pickle files under the storage folder (the default in a
run worker), and memory (the default of an in-process ``execute_job`` with no folder).

The pickle files sit under ``<storage>/<location>/``: an asset's at ``assets/<key>.pickle``,
so the latest materialization is what any later run loads, and an op's output at
``runs/<run id>/<step>/<output>.pickle``. A file is written under a temporary name and renamed
into place, so a run worker that dies mid-write never leaves half a pickle for a later run.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from ..errors import OutputStorageError, StoredOutputNotFound
from ._io_manager import InputContext, IOManager, OutputContext


class PickleIOManager(IOManager):
    """Pickles each output to a file under ``base_dir`` (see the module docstring)."""

    __slots__ = ("base_dir",)

    def __init__(self, base_dir: str | os.PathLike[str]) -> None:
        self.base_dir = Path(base_dir)

    def __repr__(self) -> str:
        return f"PickleIOManager({str(self.base_dir)!r})"

    def path(self, context: OutputContext) -> Path:
        """The file that holds the output."""
        if context.asset_key is not None:
            parts = [context.location, "assets", *context.asset_key.split("/")]
            if context.stored_partition is not None:
                # each partition its own file: assets/<key>/<partition>.pickle (a ranged
                # run's value: assets/<key>/<first>...<last>.pickle)
                parts.append(context.stored_partition)
        else:
            parts = [context.location, "runs", context.run_id, context.step_key, context.name]
        for part in parts:
            # names come from user code: none may climb out of the storage folder
            if part in ("", ".", "..") or "\0" in part or os.sep in part:
                raise OutputStorageError(f"cannot store {context}: {part!r} is not a usable "
                                         "file name")
        return self.base_dir.joinpath(*parts).with_name(parts[-1] + ".pickle")

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        try:
            data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise OutputStorageError(
                f"the output {context.name!r} of step {context.step_key} cannot be pickled "
                f"({type(exc).__name__}: {exc}); return a picklable value, store it with an "
                "IO manager of your own (io_manager_key=...), or keep it in the run's memory "
                "(io_manager_key=None)") from exc
        path = self.path(context)
        path.parent.mkdir(parents=True, exist_ok=True)
        # unique per process: two run workers storing the same asset never share a temp file
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def load_input(self, context: InputContext) -> Any:
        upstream = context.upstream_output
        path = self.path(upstream)
        try:
            with open(path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            if upstream.asset_key is not None:
                what = repr(upstream.asset_key) + (
                    f" partition {upstream.stored_partition!r}"
                    if upstream.stored_partition is not None else "")
                raise StoredOutputNotFound(
                    f"step {context.step_key} takes asset {what}, which has never been "
                    f"materialized here (no stored value at {path}); materialize {what} "
                    f"first, then run this again") from None
            raise StoredOutputNotFound(
                f"step {context.step_key} takes the output of step {upstream.step_key} of run "
                f"{upstream.run_id}, which is not stored at {path}; re-execute all steps "
                "instead") from None
        return pickle.loads(data)


class InMemoryIOManager(IOManager):
    """Keeps outputs in this process's memory: what a test's ``execute_job`` without a
    storage folder uses, so it writes nothing to disk."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: dict[tuple[str | None, str, str, str], Any] = {}

    def _key(self, context: OutputContext) -> tuple[str | None, str, str, str]:
        if context.asset_key is not None:
            return (context.asset_key, context.stored_partition or "", "", context.name)
        return (None, context.run_id, context.step_key, context.name)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        self.values[self._key(context)] = obj

    def load_input(self, context: InputContext) -> Any:
        try:
            return self.values[self._key(context.upstream_output)]
        except KeyError:
            stored = context.upstream_output.stored_partition
            asset = repr(context.asset_key) + (f" partition {stored!r}"
                                               if stored is not None else "")
            what = (f"asset {asset}, which was never materialized in this "
                    f"process; materialize {asset} first" if context.asset_key
                    else f"the output of step {context.upstream_output.step_key}, which is "
                    "not stored in this process")
            raise StoredOutputNotFound(f"step {context.step_key} takes {what}") from None
