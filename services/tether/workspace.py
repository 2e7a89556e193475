"""``workspace.toml``: the code locations a local deployment serves.

    [[locations]]
    name = "hello"
    module = "hello.defs"          # or: python_file = "hello/defs.py"
    working_directory = "."        # relative to this file
    # python = ".venv/bin/python"  # the location's own interpreter
    # queue = "default"
    # image = "registry/etl:sha"   # the container image of its code server and runs (paths
    #                              # are then the image's, not resolved against this file)
    # agent_kind = "docker"        # overrides TETHER_AGENT_KIND for this location
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import msgspec

from .errors import ConfigError
from .wire import LocationSpec


class _Workspace(msgspec.Struct, forbid_unknown_fields=True):
    locations: list[LocationSpec]


def load_workspace(path: str | Path) -> list[LocationSpec]:
    """The locations of a workspace file, with relative paths resolved against its folder."""
    path = Path(path).resolve()
    try:
        raw = tomllib.loads(path.read_text())
        workspace = msgspec.convert(raw, _Workspace)
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"workspace {path}: {exc}") from exc
    names = [spec.name for spec in workspace.locations]
    if len(set(names)) != len(names):
        raise ConfigError(f"workspace {path}: code location names must be unique, got {names}")
    return [resolve_paths(spec, path.parent) for spec in workspace.locations]


def resolve_paths(spec: LocationSpec, base: Path) -> LocationSpec:
    """``spec`` with its relative paths (working directory, file, interpreter) made absolute
    against ``base``; an interpreter given as a bare name (``python3``) stays as it is. The
    paths of a location with an image are the image's own, and stay as they are."""
    if spec.image is not None:
        return spec
    def absolute(value: str | None) -> str | None:
        return None if value is None else str((base / value).resolve())

    working_directory = absolute(spec.working_directory) or str(base)
    python_file = spec.python_file
    if python_file is not None:
        python_file = str((Path(working_directory) / python_file).resolve())
    python = spec.python
    if python is not None and ("/" in python):
        # not resolved: a virtualenv's bin/python is a symlink to the base interpreter, and
        # only the link's own path makes Python use the virtualenv
        python = os.path.normpath(base / python)
    return msgspec.structs.replace(
        spec, working_directory=working_directory, python_file=python_file, python=python
    )
