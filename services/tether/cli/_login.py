"""``tether login`` and ``tether logout``: a user token per control-plane URL, kept in the
user's config folder (``$XDG_CONFIG_HOME/tether/credentials.toml``, else
``~/.config/tether/credentials.toml``; mode 0600), for the CLI away from a deployment's
folder. The token is checked against the control plane before it is stored."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from ..errors import ConfigError, Unauthorized
from ..settings import load_settings
from ._files import toml_string, write_private

FILE_NAME = "credentials.toml"
# any user token may read this, and it costs the control plane next to nothing
_CHECK = "{ codeLocations { name } }"


class Login(msgspec.Struct, kw_only=True, frozen=True):
    token: str


def login_store_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``tether login`` keeps its tokens: the XDG config folder of the user."""
    environ = os.environ if environ is None else environ
    config_home = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "tether" / FILE_NAME


def normalize_url(url: str) -> str:
    return url.strip().rstrip("/")


def read_logins(path: Path) -> dict[str, Login]:
    """The stored logins by control-plane URL; none when the file does not exist."""
    try:
        return msgspec.convert(tomllib.loads(path.read_text()), dict[str, Login])
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc}); delete it and run `tether login` "
                          "again") from exc


def write_logins(path: Path, logins: Mapping[str, Login]) -> None:
    text = "# tokens stored by `tether login`, one table per control-plane URL\n"
    for url, login in sorted(logins.items()):
        text += f"\n[{toml_string(url)}]\ntoken = {toml_string(login.token)}\n"
    write_private(path, text)


def register(commands: Any) -> None:
    login = commands.add_parser(
        "login", help="store a user token for a control plane, for the CLI to use")
    login.add_argument("--url", help="the control plane's URL (default: TETHER_URL, or the "
                       "`tether dev` running from this folder)")
    login.add_argument("--token-stdin", action="store_true",
                       help="read the token from standard input instead of asking for it")
    login.set_defaults(handler=_login)
    logout = commands.add_parser("logout", help="forget the token stored for a control plane")
    logout.add_argument("--url", help="the control plane's URL (default as for login)")
    logout.set_defaults(handler=_logout)


def _login(args: argparse.Namespace) -> int:
    from .._tls import client_verify
    from ._graphql import GraphQLClient
    from ._target import default_url

    settings = load_settings()
    url = normalize_url(args.url or default_url(settings))
    token = _read_token(url, from_stdin=args.token_stdin)
    client = GraphQLClient(url=url, token=token, verify=client_verify(settings))
    try:
        client.execute(_CHECK)
    except Unauthorized as exc:
        raise Unauthorized(f"the control plane at {url} refused this token ({exc}); nothing "
                           "was stored. Sign in with a user token.", status_code=401) from exc
    finally:
        client.close()
    path = login_store_path()
    logins = read_logins(path)
    logins[url] = Login(token=token)
    write_logins(path, logins)
    print(f"Signed in to {url}; the token is kept in {path}")
    return 0


def _read_token(url: str, *, from_stdin: bool) -> str:
    try:
        token = (sys.stdin.readline() if from_stdin
                 else getpass.getpass(f"User token for {url}: "))
    except EOFError:
        token = ""
    token = token.strip()
    if not token:
        raise ConfigError("no token given: paste a user token (create one with `tether "
                          "control-plane create-token --kind user`, or under Settings → "
                          "Tokens in the web UI)")
    return token


def _logout(args: argparse.Namespace) -> int:
    from ._target import default_url

    url = normalize_url(args.url or default_url(load_settings()))
    path = login_store_path()
    logins = read_logins(path)
    if logins.pop(url, None) is None:
        print(f"no token stored for {url}")
        return 0
    write_logins(path, logins)
    print(f"Signed out of {url}")
    return 0
