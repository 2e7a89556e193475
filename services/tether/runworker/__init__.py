"""The run worker: executes one run attempt in its own process."""

from ._execute import execute_run

__all__ = ["execute_run"]
