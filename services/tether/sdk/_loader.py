"""Loading a code location: import the user's module or file and take its ``Definitions``.

Any failure becomes a :class:`~tether.errors.CodeLocationLoadError` with a short message and
the user's traceback, trimmed of the loader's and importlib's own frames, so that the UI shows
the user the line of their code that broke.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from ..errors import CodeLocationLoadError
from ..wire import LocationSpec
from ._definitions import Definitions
from ._tracebacks import user_traceback


def load_definitions(spec: LocationSpec) -> Definitions:
    """Import the location's module (or run its Python file) and return its ``Definitions``.

    The working directory (for a file without one: the file's folder) goes first on
    ``sys.path``, so the user's code imports its sibling modules as it would when run directly.
    """
    where = f"code location {spec.name!r}"
    working_directory = _working_directory(spec)
    if working_directory not in sys.path:
        sys.path.insert(0, working_directory)
    # files written after this interpreter started (a fresh deploy) must be found
    importlib.invalidate_caches()
    source = f"module {spec.module!r}" if spec.module else f"file {spec.python_file!r}"
    try:
        if spec.module is not None:
            module = importlib.import_module(spec.module)
        else:
            module = _exec_file(Path(working_directory), spec.python_file or "")
    except (Exception, SystemExit) as exc:
        raise CodeLocationLoadError(
            f"{where}: could not load {source}: {type(exc).__name__}: {exc}",
            user_traceback=user_traceback(exc),
        ) from exc
    try:
        defs = getattr(module, spec.attribute)
    except AttributeError:
        message = (
            f"{where}: {source} has no attribute {spec.attribute!r}; define "
            f"`{spec.attribute} = Definitions(...)` there, or set `attribute` in the location"
        )
        raise CodeLocationLoadError(message, user_traceback=message) from None
    if not isinstance(defs, Definitions):
        message = (
            f"{where}: {spec.attribute!r} in {source} is a {type(defs).__name__}, "
            f"not a tether.Definitions"
        )
        raise CodeLocationLoadError(message, user_traceback=message)
    return defs


def _working_directory(spec: LocationSpec) -> str:
    if spec.working_directory:
        return str(Path(spec.working_directory).resolve())
    if spec.python_file:
        return str(Path(spec.python_file).resolve().parent)
    return os.getcwd()


def _exec_file(working_directory: Path, python_file: str) -> ModuleType:
    path = (working_directory / python_file).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    # the file's stem as module name, as `python path/to/defs.py` users would import it
    name = path.stem
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    # registered before running, so dataclasses and pickling can find the module by name
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
