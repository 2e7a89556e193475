"""The tokens of a local deployment, kept in ``<data_dir>/credentials.toml`` (mode 0600) so
that ``tether dev`` and the CLI in a second terminal find them without any setup."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import msgspec

from ..errors import ConfigError
from ..settings import Settings

FILE_NAME = "credentials.toml"


class DevCredentials(msgspec.Struct, kw_only=True, frozen=True):
    agent_token: str
    user_token: str


def credentials_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / FILE_NAME


def read_credentials(settings: Settings) -> DevCredentials | None:
    path = credentials_path(settings)
    try:
        return msgspec.convert(tomllib.loads(path.read_text()), DevCredentials)
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc}); delete it to get new tokens") from exc


def write_credentials(settings: Settings, credentials: DevCredentials) -> Path:
    path = credentials_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(f'agent_token = "{credentials.agent_token}"\n'
                   f'user_token = "{credentials.user_token}"\n')
    return path


def user_token(settings: Settings) -> str:
    """``TETHER_TOKEN``, or the user token of the local deployment in the data folder."""
    if settings.token:
        return settings.token
    credentials = read_credentials(settings)
    if credentials is None:
        raise ConfigError(
            "no token: set TETHER_TOKEN to a user token (create one with `tether control-plane "
            f"create-token --kind user`), or run from the folder where `tether dev` runs "
            f"(it keeps one in {credentials_path(settings)})"
        )
    return credentials.user_token
