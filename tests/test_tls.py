"""TLS end to end: the control plane serves HTTPS with a certificate signed by a CA this test
makes, the agent and the CLI trust that CA through TETHER_CA_FILE and a run succeeds; a
client that does not trust the certificate, and a control plane given a bad certificate or
key, refuse with a message that says what to set (never a traceback)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import free_port
from .deployment import deployed
from .waiting import launched_once_loaded


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    # a CA that signed nothing of this deployment, and its key (a key that fits no cert)
    other_ca: Path
    other_key: Path
    # the server's key, encrypted with a password
    encrypted_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN=Tether test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    return directory / f"{name}.pem", directory / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca, _ca_key = _make_ca(directory, "ca")
    other_ca, other_key = _make_ca(directory, "other-ca")
    (directory / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
             cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
             cwd=directory)
    _openssl("ec", "-in", "server.key", "-out", "encrypted.key", "-aes256", "-passout",
             "pass:secret", cwd=directory)
    return Pki(ca=ca, cert=directory / "server.pem", key=directory / "server.key",
               other_ca=other_ca, other_key=other_key, encrypted_key=directory / "encrypted.key")


def _clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a user's shell: no Tether settings but ``settings``, no tokens of
    `tether dev` or `tether login` to find by accident."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["TETHER_DATA_DIR"] = str(tmp_path / "cli-data")
    env.update(settings)
    return env


def tether(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tether", *args], env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


@pytest.mark.timeout(240)
def test_a_run_over_https_with_a_private_ca(tmp_path: Path, broker_url: str, pki: Pki) -> None:
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    tls = {"TETHER_TLS_CERT_FILE": str(pki.cert), "TETHER_TLS_KEY_FILE": str(pki.key),
           "TETHER_CA_FILE": str(pki.ca)}
    with deployed(redis_url=broker_url, data_dir=tmp_path, port=port, env=tls) as deployment:
        assert deployment.url == url
        cli = _clean_env(tmp_path, TETHER_URL=url, TETHER_TOKEN=deployment.user_token,
                         TETHER_CA_FILE=str(pki.ca))
        # the agent's poller claims it over HTTPS, its uploader reports it over HTTPS
        launched = launched_once_loaded(
            lambda: tether("run", "launch", "hello_job", "--wait", env=cli, cwd=tmp_path),
            timeout=90)
        assert launched.returncode == 0, launched.stdout + launched.stderr + deployment.output()
        assert "status: SUCCESS" in launched.stdout
        run_id = re.search(r"Launched run (\S+)", launched.stdout).group(1)  # type: ignore[union-attr]
        logs = tether("run", "logs", run_id, env=cli, cwd=tmp_path)
        assert logs.returncode == 0 and "RUN_SUCCESS" in logs.stdout, logs.stderr
        agents = tether("agent", "list", env=cli, cwd=tmp_path)
        assert agents.returncode == 0 and "alive" in agents.stdout, agents.stderr

        # a CLI that trusts only the system's CAs, or another CA, refuses the certificate
        for untrusting in (_clean_env(tmp_path, TETHER_URL=url,
                                      TETHER_TOKEN=deployment.user_token),
                           {**cli, "TETHER_CA_FILE": str(pki.other_ca)}):
            refused = tether("run", "list", env=untrusting, cwd=tmp_path)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert refused.stderr.startswith(f"error: the control plane at {url} presented a "
                                             "certificate this client does not trust (")
            assert "set TETHER_CA_FILE" in refused.stderr
            assert "Traceback" not in refused.stderr
            assert run_id not in refused.stdout

        # so does an agent's poller: it says why, and keeps trying (the CA may be fixed on
        # either side) without a traceback
        log_path = tmp_path / "untrusting-poller.log"
        poller = subprocess.Popen(
            [sys.executable, "-m", "tether", "agent", "poller"],
            env={**deployment.env, "TETHER_AGENT_TOKEN": deployment.agent_token,
                 "TETHER_CA_FILE": str(pki.other_ca), "TETHER_AGENT_ID": "untrusting"},
            stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deployment.wait_for(
                lambda: "does not trust" in log_path.read_text(), timeout=30,
                what="the poller's refusal of the certificate")
            assert poller.poll() is None, log_path.read_text()
        finally:
            os.killpg(poller.pid, signal.SIGTERM)
            code = poller.wait(timeout=15)
        log = log_path.read_text()
        assert code == 0, log
        assert f"the control plane at {url} presented a certificate this client does not " \
               "trust" in log
        assert "Traceback" not in log
        agent_ids = [agent["id"] for agent in deployment.graphql("{ agents { id } }")["agents"]]
        assert "untrusting" not in agent_ids


def test_bad_tls_files_stop_the_start_with_the_setting_named(tmp_path: Path, pki: Pki) -> None:
    missing = tmp_path / "missing.pem"
    cases = [
        ({"TETHER_TLS_CERT_FILE": str(missing), "TETHER_TLS_KEY_FILE": str(pki.key)},
         f"error: TETHER_TLS_CERT_FILE={missing} cannot be read: No such file or directory"),
        ({"TETHER_TLS_CERT_FILE": str(pki.cert)},
         "error: TETHER_TLS_CERT_FILE and TETHER_TLS_KEY_FILE go together, and "
         "TETHER_TLS_KEY_FILE is not set"),
        ({"TETHER_TLS_CERT_FILE": str(pki.cert), "TETHER_TLS_KEY_FILE": str(pki.other_key)},
         f"error: TETHER_TLS_CERT_FILE={pki.cert} and TETHER_TLS_KEY_FILE={pki.other_key} "
         "are not a PEM certificate and its unencrypted private key (key values mismatch)"),
        ({"TETHER_TLS_CERT_FILE": str(pki.key), "TETHER_TLS_KEY_FILE": str(pki.key)},
         "are not a PEM certificate and its unencrypted private key (not PEM, or an "
         "encrypted key)"),
        # OpenSSL would ask for its password on the terminal: the start fails instead
        ({"TETHER_TLS_CERT_FILE": str(pki.cert), "TETHER_TLS_KEY_FILE": str(pki.encrypted_key)},
         "are not a PEM certificate and its unencrypted private key (not PEM, or an "
         "encrypted key)"),
    ]
    for settings, message in cases:
        env = _clean_env(tmp_path, TETHER_PORT=str(free_port()), **settings)
        result = tether("control-plane", "serve", env=env, cwd=tmp_path)
        assert result.returncode == 1, (settings, result.stdout + result.stderr)
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr

    # the clients name an unreadable or empty CA file alike
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    for ca_file, message in ((missing, f"error: TETHER_CA_FILE={missing} cannot be read"),
                             (empty, f"error: TETHER_CA_FILE={empty} holds no PEM CA "
                                     "certificate")):
        env = _clean_env(tmp_path, TETHER_TOKEN="t", TETHER_CA_FILE=str(ca_file),
                         TETHER_URL="https://127.0.0.1:9")
        cli = tether("run", "list", env=env, cwd=tmp_path)
        assert cli.returncode == 1 and message in cli.stderr, cli.stderr
        poller = tether("agent", "poller", env={**env, "TETHER_AGENT_TOKEN": "t",
                                                "TETHER_REDIS_URL": "redis://127.0.0.1:9"},
                        cwd=tmp_path)
        assert poller.returncode == 1 and message in poller.stderr, poller.stderr
        assert "Traceback" not in cli.stderr + poller.stderr
