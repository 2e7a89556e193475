"""``tether login`` and ``tether logout``: a user outside any deployment's folder signs the CLI
in to a control plane once, and every command then works with only TETHER_URL; and which
token a command uses when several are at hand."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.cli._credentials import DevCredentials, write_credentials
from tether.cli._dev_record import DevDeployment, write_dev_record
from tether.cli._login import Login, login_store_path, read_logins, write_logins
from tether.cli._target import Target, control_plane_target
from tether.errors import ConfigError
from tether.settings import Settings

from ..conftest import free_port
from ..deployment import Deployment, deployed


@pytest.fixture
def control_plane(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    data_dir = tmp_path / "deployment"
    data_dir.mkdir()
    # stopped cleanly, nothing left behind
    with deployed(redis_url=broker_url, data_dir=data_dir,
                  processes=("control-plane",)) as deployment:
        yield deployment


def tether(*args: str, cwd: Path, env: dict[str, str], stdin: str = ""
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tether", *args], cwd=cwd, env=env,
                          input=stdin, capture_output=True, text=True, timeout=60)


def test_login_signs_the_cli_in_away_from_the_deployment(tmp_path: Path,
                                                        control_plane: Deployment) -> None:
    home = tmp_path / "home"  # a user's folder: no .tether, no TETHER_TOKEN
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["XDG_CONFIG_HOME"] = str(home / "config")
    store = home / "config" / "tether" / "credentials.toml"
    url = control_plane.url
    # not under tether dev, the sign-in page names no credentials file
    assert "your user token is" not in control_plane.http.get("/signin").text

    # a token the control plane does not accept is refused, and nothing is stored
    for wrong in ("not-a-token", control_plane.agent_token):
        refused = tether("login", "--url", url, "--token-stdin", cwd=home, env=env,
                         stdin=wrong + "\n")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"error: the control plane at {url} refused this token" in refused.stderr
        assert "nothing was stored" in refused.stderr and "Traceback" not in refused.stderr
        assert not store.exists()
    empty = tether("login", "--url", url, "--token-stdin", cwd=home, env=env, stdin="\n")
    assert empty.returncode == 1 and "no token given" in empty.stderr

    signed_in = tether("login", "--url", url + "/", "--token-stdin", cwd=home, env=env,
                       stdin=control_plane.user_token + "\n")
    assert signed_in.returncode == 0, signed_in.stderr
    assert signed_in.stdout.strip() == f"Signed in to {url}; the token is kept in {store}"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert read_logins(store) == {url: Login(token=control_plane.user_token)}

    # with only TETHER_URL, the CLI uses the stored token
    with_url = {**env, "TETHER_URL": url}
    listing = tether("run", "list", cwd=home, env=with_url)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.strip() == "no runs yet"
    locations = tether("location", "list", cwd=home, env=with_url)
    assert locations.returncode == 0 and "hello" in locations.stdout, locations.stderr

    # another control plane's URL has no token of its own
    elsewhere = tether("run", "list", cwd=home,
                       env={**env, "TETHER_URL": f"http://127.0.0.1:{free_port()}"})
    assert elsewhere.returncode == 1 and "sign in to http://127.0.0.1:" in elsewhere.stderr

    signed_out = tether("logout", cwd=home, env=with_url)
    assert signed_out.returncode == 0 and signed_out.stdout.strip() == f"Signed out of {url}"
    assert read_logins(store) == {}
    after = tether("run", "list", cwd=home, env=with_url)
    assert after.returncode == 1 and "tether login" in after.stderr
    again = tether("logout", "--url", url, cwd=home, env=env)
    assert again.returncode == 0 and again.stdout.strip() == f"no token stored for {url}"


def test_which_token_a_command_uses(tmp_path: Path) -> None:
    logins = tmp_path / "config" / "tether" / "credentials.toml"
    dev_dir = str(tmp_path / ".tether")
    remote, dev_url = "https://tether.example.com", "http://127.0.0.1:3005"
    write_logins(logins, {remote: Login(token="login-remote"),
                          dev_url: Login(token="login-dev")})

    def target(**settings: str) -> Target:
        return control_plane_target(Settings(data_dir=dev_dir, **settings), logins)

    # away from any tether dev: the login for the URL, and TETHER_TOKEN over everything
    assert target(url=remote + "/") == Target(url=remote, token="login-remote")
    assert target(url=remote, token="env") == Target(url=remote, token="env")
    hint = "or sign in to http://127.0.0.1:3000 with `tether login`"
    with pytest.raises(ConfigError, match=re.escape(hint)):
        target()

    # in tether dev's folder: its URL and its user token, unless the user names another URL
    # that they signed in to
    write_credentials(Settings(data_dir=dev_dir),
                      DevCredentials(agent_token="dev-agent", user_token="dev-user"))
    write_dev_record(Settings(data_dir=dev_dir),
                     DevDeployment(url=dev_url, redis_url="redis://127.0.0.1:1"))
    assert target() == Target(url=dev_url, token="dev-user")
    assert target(url=dev_url) == Target(url=dev_url, token="dev-user")
    assert target(url=remote) == Target(url=remote, token="login-remote")
    assert target(url="http://other:3000") == Target(url="http://other:3000", token="dev-user")
    assert target(token="env") == Target(url=dev_url, token="env")


def test_the_login_store_follows_xdg(tmp_path: Path) -> None:
    assert login_store_path({"XDG_CONFIG_HOME": str(tmp_path)}) == \
        tmp_path / "tether" / "credentials.toml"
    assert login_store_path({}) == Path.home() / ".config" / "tether" / "credentials.toml"
