"""Errors shared by every part of Tether.

    TetherError                      base of everything Tether raises on purpose
    ├── ConfigError                  a setting is missing or malformed
    ├── DefinitionError              user code defines something invalid (bad op wiring, ...)
    ├── RunConfigError               a run config does not fit the job's Config types
    ├── StepSelectionError           a step selection the job cannot run
    ├── PartitionError               a partition key the job or asset does not have
    ├── OutputStorageError           a step's output cannot be stored (e.g. unpicklable)
    │   └── StoredOutputNotFound     a stored output to load is not there (never materialized)
    │       └── OutputNotProduced    an optional output its step did not make (step skipped)
    ├── OutputMismatch               what an op returned does not fit the outputs it declares
    ├── AssetCheckFailed             a blocking ERROR asset check failed (its step fails)
    ├── MetadataError                a metadata value that cannot be recorded
    ├── ResourceSetupError           a resource's setup raised (the user's error is its cause)
    ├── CodeLocationLoadError        a code location failed to import or define its objects
    ├── JobNotFoundError             a job name that no loaded code location defines
    ├── BrokerUnavailable            Redis/Valkey cannot be reached
    ├── ControlPlaneError            the control plane answered with an error
    │   ├── ControlPlaneUnreachable  no answer at all (refused, reset, timed out)
    │   └── Unauthorized             a missing, wrong or revoked token
    ├── CodeServerError              a code server could not be reached or failed a query
    ├── ContainerError               the Docker Engine refused or failed (also an OSError: a
    │                                run container that cannot start fails its launch)
    └── KubernetesError              the Kubernetes API refused a request (see ``status``)
        └── KubernetesUnavailable    the Kubernetes API cannot be reached (try again later)

Sub-packages may add their own subclasses next to the code that raises them; foreign errors
(redis, httpx, grpc, SQLAlchemy) are translated where they enter, with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence


class TetherError(Exception):
    """Base class of every error Tether raises on purpose."""


class ConfigError(TetherError):
    """A setting is missing or malformed; the message names the setting."""


class DefinitionError(TetherError):
    """User code defines an invalid op, job or asset graph."""


class RunConfigError(TetherError):
    """A run config does not fit the job's ``Config`` types. ``problems`` are its errors,
    each starting with its path, e.g. ``$.ops.load.config.limit: expected int, got str``;
    the message is :func:`describe_problems` of them."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(describe_problems(self.problems))


def describe_problems(problems: Sequence[str]) -> str:
    """One problem as it is; several as a count and one indented line each."""
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems:\n" + "\n".join(f"  {problem}" for problem in problems)


class StepSelectionError(TetherError):
    """A step selection names a step the job does not have, or leaves out a step whose
    output a selected step takes and that is not stored (``io_manager_key=None``)."""


class PartitionError(TetherError):
    """A partition key the definition does not have, a partition given to an unpartitioned
    job, or none given to a partitioned one; the message names the key and what is allowed."""


class OutputStorageError(TetherError):
    """A step's output could not be stored by its IO manager, e.g. it cannot be pickled; the
    message names the step and the output."""


class StoredOutputNotFound(OutputStorageError):
    """A step input's stored value is not there: its asset was never materialized, or the
    step that made it never stored it. The message says what to materialize or run."""


class OutputNotProduced(StoredOutputNotFound):
    """A step input reads an optional output that its step did not produce (in this run or
    the run it is loaded from): the step is skipped, not failed."""


class OutputMismatch(TetherError):
    """What an op returned or yielded does not fit its declared outputs (``out=``): a tuple
    of the wrong length, an unknown or repeated output name, a required output not produced,
    a value of the wrong type. The message names the step and the output."""


class AssetCheckFailed(TetherError):
    """A blocking asset check failed with ERROR severity: its step fails, so the steps
    downstream of the checked asset do not run. The message names the check and the asset."""


class MetadataError(TetherError):
    """An op or asset reported a metadata value that cannot be recorded (not a metadata
    type, or not JSON); the message names the label and says what to use instead."""


class ResourceSetupError(TetherError):
    """A resource's setup raised; the message names the resource, the cause is the user's
    error (its traceback is the one shown)."""

    def __init__(self, name: str, cause: BaseException) -> None:
        super().__init__(f"resource {name!r} failed to set up: {type(cause).__name__}: {cause}")
        self.resource = name


class CodeLocationLoadError(TetherError):
    """A code location could not be loaded; ``user_traceback`` holds the user's traceback."""

    def __init__(self, message: str, *, user_traceback: str = "") -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


class JobNotFoundError(TetherError):
    """No loaded code location defines the requested job."""


class BrokerUnavailable(TetherError):
    """Redis/Valkey cannot be reached."""


class ControlPlaneError(TetherError):
    """The control plane answered with an error, or could not be reached. ``retry_after`` is
    the wait in seconds the server asked for (429/503), 0 when it asked for none."""

    def __init__(self, message: str, *, status_code: int | None = None,
                 retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class ControlPlaneUnreachable(ControlPlaneError):
    """No answer from the control plane: nothing listens, the connection broke or timed out."""


class Unauthorized(ControlPlaneError):
    """The token is missing, wrong, revoked, or of the wrong kind for this call."""


class CodeServerError(TetherError):
    """A code server could not be reached, or a query to it failed."""


class ContainerError(TetherError, OSError):
    """The Docker Engine could not be reached, or refused what the agent asked (an image that
    is not there, a bad limit); the message says which."""


class KubernetesError(TetherError):
    """The Kubernetes API refused a request: ``status`` is its HTTP status (403: the agent's
    service account lacks a permission; 422: an invalid object, e.g. a bad image name)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class KubernetesUnavailable(KubernetesError):
    """The Kubernetes API cannot be reached, or answered with a server error."""
