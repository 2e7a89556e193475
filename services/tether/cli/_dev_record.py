"""What ``tether dev`` records for the CLI in a second terminal, next to its credentials:
where its control plane and its broker are, so that every command finds them with no
settings, as it finds the user token. Written once they run, removed when they stop."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from ..errors import ConfigError
from ..settings import Settings
from ._credentials import credentials_path
from ._files import toml_string, write_private

FILE_NAME = "dev.toml"


class DevDeployment(msgspec.Struct, kw_only=True, frozen=True):
    url: str
    redis_url: str


def dev_record_path(settings: Settings) -> Path:
    return credentials_path(settings).with_name(FILE_NAME)


def write_dev_record(settings: Settings, deployment: DevDeployment) -> Path:
    # private: a broker URL may carry its password
    path = dev_record_path(settings)
    write_private(path, f"url = {toml_string(deployment.url)}\n"
                        f"redis_url = {toml_string(deployment.redis_url)}\n")
    return path


def read_dev_record(settings: Settings) -> DevDeployment | None:
    """The running ``tether dev``'s addresses, or ``None`` when none runs from here."""
    path = dev_record_path(settings)
    try:
        return msgspec.convert(tomllib.loads(path.read_text()), DevDeployment)
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc}); restart `tether dev` to write it "
                          "again") from exc


def remove_dev_record(settings: Settings) -> None:
    dev_record_path(settings).unlink(missing_ok=True)
