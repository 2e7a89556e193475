"""Errors the control plane raises on purpose, next to the code that raises them.

    TetherError (tether.errors)
    ├── JobNotFoundError (tether.errors)   no loaded code location defines the job
    └── ControlPlaneStateError             a request that the current state cannot satisfy
        ├── AmbiguousJobError              several locations define the job; name one
        ├── LocationNotFound               no code location has that name
        ├── LocationNotLoaded              the location exists but has no usable snapshot
        ├── RunNotFound                    no run has that id
        ├── BadInput                       an argument has the wrong shape
        └── Forbidden                      the token's role does not allow the action
    ├── RequestRefused                     the request breaks an API limit (README)
    │   ├── InputTooDeep                   a JSON or msgpack value nests too deeply (400)
    │   └── RateLimited                    too many requests of a kind, for now (429)
    StorageError                           the metadata database failed or is unreachable
    Unauthorized (tether.errors)
    └── TokenExpired                       the token was valid, but its expiry has passed

The GraphQL layer maps each class to an ``extensions.code``; the agent API maps
:class:`tether.errors.Unauthorized` to 401 and :class:`StorageError` to 503.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tether.errors import TetherError, Unauthorized

if TYPE_CHECKING:
    from .storage import TokenInfo


class ControlPlaneStateError(TetherError):
    """A request that the control plane's current state cannot satisfy."""


class AmbiguousJobError(ControlPlaneStateError):
    """Several loaded code locations define a job of that name; the caller must pick one."""


class LocationNotFound(ControlPlaneStateError):
    def __init__(self, location: str, known: list[str]) -> None:
        names = ", ".join(sorted(known)) or "none are deployed"
        super().__init__(f"no code location named {location!r} (known locations: {names})")
        self.location = location


class LocationNotLoaded(ControlPlaneStateError):
    def __init__(self, location: str, status: str, error: str | None = None) -> None:
        detail = f"code location {location!r} is {status}, not loaded"
        if error:
            detail += f"; its last load failed:\n{error}"
        else:
            detail += "; wait until an agent has loaded it, or check that an agent is running"
        super().__init__(detail)
        self.location = location
        self.status = status


class RunNotFound(ControlPlaneStateError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r}")
        self.run_id = run_id


class DeploymentNotFound(ControlPlaneStateError):
    def __init__(self, deployment: str) -> None:
        super().__init__(f"no deployment named {deployment!r}; `tether deployment list` "
                         "shows them, `tether deployment create` makes a branch deployment")
        self.deployment = deployment


class BadInput(ControlPlaneStateError):
    """An argument has the wrong type or shape; the message names the argument."""


class UnstorableInput(TetherError):
    """The database refused the data itself (not a passing failure): retrying cannot help."""


class StorageError(TetherError):
    """The metadata database failed or cannot be reached; the message says which database."""


class Forbidden(ControlPlaneStateError):
    """The token is valid but its role does not allow this action."""


class TokenExpired(Unauthorized):
    """The token is known and unrevoked, but its expiry has passed."""

    def __init__(self, token: TokenInfo, expired_at: float) -> None:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expired_at))
        super().__init__(
            f"token {token.name or token.id!r} expired at {when}; ask an admin for a new one "
            "(Settings → Tokens, or `tether control-plane create-token`)", status_code=401)
        self.token = token
        self.expired_at = expired_at


class RequestRefused(TetherError):
    """The request breaks one of the API's limits (README, "API limits"): nothing of it was
    stored. ``status_code`` is the HTTP answer."""

    status_code = 400


class InputTooDeep(RequestRefused):
    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} nests more than {limit} levels deep, the most the control "
                         "plane accepts (its TETHER_MAX_INPUT_DEPTH)")


class RateLimited(RequestRefused):
    status_code = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
