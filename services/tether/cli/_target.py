"""Which control plane and broker a CLI command talks to, and with which token: what the
user set (``TETHER_URL``, ``TETHER_TOKEN``, ``TETHER_REDIS_URL``), else what the ``tether
dev`` running from this folder recorded, else what ``tether login`` stored."""

from __future__ import annotations

from pathlib import Path

import msgspec

from ..errors import ConfigError
from ..settings import DEFAULT_URL, Settings
from ._credentials import read_credentials, user_token
from ._dev_record import dev_record_path, read_dev_record
from ._login import login_store_path, normalize_url, read_logins


class Target(msgspec.Struct, kw_only=True, frozen=True):
    url: str
    token: str


def default_url(settings: Settings) -> str:
    """``TETHER_URL``, else the control plane of the ``tether dev`` running from here, else
    the default local address."""
    if settings.url:
        return settings.url
    dev = read_dev_record(settings)
    return dev.url if dev is not None else DEFAULT_URL


def control_plane_target(settings: Settings, logins_path: Path | None = None) -> Target:
    """The URL and user token for a command: ``TETHER_TOKEN``; else the ``tether dev`` user
    token in the data folder; else the token ``tether login`` stored for the URL. A stored
    login wins over the dev token only for a URL the user named that is not the dev
    deployment's: that token belongs to the dev deployment."""
    url = normalize_url(default_url(settings))
    logins_path = login_store_path() if logins_path is None else logins_path
    login = None if settings.token else read_logins(logins_path).get(url)
    if login is not None and (read_credentials(settings) is None
                              or _named_elsewhere(settings, url)):
        return Target(url=url, token=login.token)
    try:
        return Target(url=url, token=user_token(settings))
    except ConfigError as exc:
        raise ConfigError(f"{exc}; or sign in to {url} with `tether login` (it asks for a "
                          "user token and keeps it for that URL)") from exc


def _named_elsewhere(settings: Settings, url: str) -> bool:
    if not settings.url:
        return False
    dev = read_dev_record(settings)
    return dev is None or normalize_url(dev.url) != url


def broker_url(settings: Settings) -> str:
    """The agent's broker: ``TETHER_REDIS_URL``, else the ``tether dev`` running from here."""
    if settings.redis_url:
        return settings.redis_url
    dev = read_dev_record(settings)
    if dev is not None:
        return dev.redis_url
    raise ConfigError(
        "TETHER_REDIS_URL is not set: set it to the agent's broker, or run from the folder "
        f"where `tether dev` runs (it records its broker in {dev_record_path(settings)})"
    )
