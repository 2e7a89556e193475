"""`tether control-plane create-token / list-tokens / revoke-token` as an operator runs them:
the CLI writes to the store directly, so its token changes are on the audit log as the CLI's,
an expiry is given as 90d or 12h, and the list shows expiry and last use."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tether.control_plane.storage import Store


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TETHER_DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "tether", "control-plane", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_token_commands_expire_list_revoke_and_are_audited(tmp_path: Path) -> None:
    created = cli(tmp_path, "create-token", "--kind", "agent", "--name", "eu agent",
                  "--expires-in", "90d")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("tta_")

    store = Store.from_url(f"sqlite:///{tmp_path / 'tether.db'}")
    try:
        [record] = store.list_tokens()
        assert record.expires_at is not None
        assert abs(record.expires_at - record.created_at - 90 * 86400) < 1
        info = store.authenticate(token)
        assert info is not None
        store.note_use(info, via="agent-api", client="10.0.0.5")

        listed = cli(tmp_path, "list-tokens")
        assert listed.returncode == 0, listed.stderr
        [header, line] = listed.stdout.splitlines()
        assert "LAST USED" in header and "EXPIRES" in header
        assert line.split()[:4] == [str(record.id), "agent", "admin", "active"]
        # its last use and its expiry
        assert line.endswith("eu agent")
        assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d", line)) == 2

        revoked = cli(tmp_path, "revoke-token", str(record.id))
        assert revoked.returncode == 0 and f"revoked token {record.id}" in revoked.stdout
        again = cli(tmp_path, "revoke-token", str(record.id))
        assert again.returncode != 0 and "list-tokens" in again.stderr
        bad = cli(tmp_path, "create-token", "--kind", "user", "--expires-in", "3 months")
        assert bad.returncode != 0 and "not a duration" in bad.stderr

        log = store.audit_log()
        assert [(e.action, e.actor.kind, e.actor.via) for e in log] == [
            ("token.revoke", "cli", "cli"), ("token.first_use", "agent", "agent-api"),
            ("token.create", "cli", "cli")]
        assert log[1].actor.client == "10.0.0.5" and "expires" in log[2].detail
    finally:
        store.close()
