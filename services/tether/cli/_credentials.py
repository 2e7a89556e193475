"""The tokens of a local deployment, so that ``tether dev`` and the CLI in a second terminal
find them without any setup.

They live in the user's state folder, ``~/.local/state/tether/<folder>-<key>/`` (the folder
0700, the files 0600), where ``<key>`` is a hash of the deployment's data folder's path: not in
the data folder itself, which may sit in a code location's working directory, where the code
it runs looks first.
``agent-token`` there is the agent token alone, for ``TETHER_AGENT_TOKEN_FILE``.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import msgspec

from ..errors import ConfigError
from ..settings import Settings
from ._files import write_private

FILE_NAME = "credentials.toml"
AGENT_TOKEN_FILE_NAME = "agent-token"


class DevCredentials(msgspec.Struct, kw_only=True, frozen=True):
    agent_token: str
    user_token: str


def credentials_dir(settings: Settings) -> Path:
    """The folder of the local deployment's tokens: the same for every process started in
    the same folder (or with the same ``TETHER_DATA_DIR``)."""
    data_dir = Path(settings.data_dir).resolve()
    key = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path.home() / ".local" / "state" / "tether" / f"{data_dir.parent.name}-{key}"


def credentials_path(settings: Settings) -> Path:
    return credentials_dir(settings) / FILE_NAME


def agent_token_path(settings: Settings) -> Path:
    return credentials_dir(settings) / AGENT_TOKEN_FILE_NAME


def legacy_credentials_path(settings: Settings) -> Path:
    """Where ``tether dev`` kept the tokens before: in the data folder."""
    return Path(settings.data_dir) / FILE_NAME


def read_credentials(settings: Settings) -> DevCredentials | None:
    for path in (credentials_path(settings), legacy_credentials_path(settings)):
        try:
            return msgspec.convert(tomllib.loads(path.read_text()), DevCredentials)
        except FileNotFoundError:
            continue
        except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
            raise ConfigError(f"{path} is unreadable ({exc}); delete it to get new "
                              "tokens") from exc
    return None


def write_credentials(settings: Settings, credentials: DevCredentials) -> Path:
    """Write the tokens (and the agent token's own file), and remove a copy left in the
    data folder by an earlier version; returns the credentials file."""
    folder = credentials_dir(settings)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    write_private(folder / FILE_NAME, f'agent_token = "{credentials.agent_token}"\n'
                                       f'user_token = "{credentials.user_token}"\n')
    write_private(folder / AGENT_TOKEN_FILE_NAME, credentials.agent_token + "\n")
    legacy_credentials_path(settings).unlink(missing_ok=True)
    return folder / FILE_NAME


def user_token(settings: Settings) -> str:
    """``TETHER_TOKEN``, or the user token of the local deployment of this folder."""
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
