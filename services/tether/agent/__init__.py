"""The agent: four workers over Redis streams, each its own process (``tether agent <worker>``)."""

from ._client import ControlPlaneClient
from ._deployments import DeploymentClients
from ._warm import WarmPool
from .launcher import Launcher
from .poller import Poller
from .supervisor import Supervisor
from .uploader import Uploader

__all__ = [
    "ControlPlaneClient",
    "DeploymentClients",
    "Launcher",
    "Poller",
    "Supervisor",
    "Uploader",
    "WarmPool",
]
