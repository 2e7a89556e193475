"""The run worker: executes one run attempt in its own process."""

from ._execute import execute_run
from ._rq import run_attempt as run_rq_attempt

__all__ = ["execute_run", "run_rq_attempt"]
