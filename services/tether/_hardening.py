"""Keeping a process's credentials out of reach of the user code running beside it.

Applied once at the entry point of each agent worker (and of ``tether dev``):

- the agent token comes from a file only the agent's OS user can read
  (``TETHER_AGENT_TOKEN_FILE``, mode 0600); ``TETHER_AGENT_TOKEN`` still works but is removed
  from the environment once read, so no child process inherits it;
- the process marks itself non-dumpable: another process of the same OS user can then no
  longer read its ``/proc/<pid>/environ`` (where a token passed in the environment stays
  visible for the life of the process) or its memory, nor attach a debugger (root still can);
- the data folder, where it exists, is private to its owner (0700).

Running user code as another OS user (``TETHER_RUN_USER``) is the launcher's and the
supervisor's part: see ``tether.agent._processes.RunUser``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

import msgspec

from .errors import ConfigError
from .settings import ENV_PREFIX, Settings

log = logging.getLogger(__name__)

AGENT_TOKEN_VARIABLE = f"{ENV_PREFIX}AGENT_TOKEN"
AGENT_TOKENS_VARIABLE = f"{ENV_PREFIX}AGENT_TOKENS"
# <linux/prctl.h>
_PR_SET_DUMPABLE = 4


def secure_agent_process(settings: Settings, environ: MutableMapping[str, str]) -> Settings:
    """Apply this module's measures to an agent worker that starts with ``settings`` and
    ``environ`` (the process environment); returns the settings with the agent token."""
    forbid_dumping()
    settings = load_agent_token(settings, environ)
    # the workers that keep files there create it (private); the others do not need one
    if Path(settings.data_dir).is_dir():
        make_private_dir(Path(settings.data_dir))
    return settings


def load_agent_token(settings: Settings, environ: MutableMapping[str, str]) -> Settings:
    """``settings`` with the agent token read from ``agent_token_file`` when it names one
    (it wins over ``TETHER_AGENT_TOKEN``) and those of ``agent_token_files`` added to
    ``agent_tokens``; ``TETHER_AGENT_TOKEN`` and ``TETHER_AGENT_TOKENS`` removed from
    ``environ``."""
    environ.pop(AGENT_TOKEN_VARIABLE, None)
    environ.pop(AGENT_TOKENS_VARIABLE, None)
    if settings.agent_token_file:
        token = read_secret_file(settings.agent_token_file, what="the agent token")
        settings = msgspec.structs.replace(settings, agent_token=token)
    if settings.agent_token_files:
        more = [read_secret_file(path, what="an agent token")
                for path in settings.agent_token_files]
        settings = msgspec.structs.replace(settings,
                                           agent_tokens=[*settings.agent_tokens, *more])
    return settings


def read_secret_file(path: str, *, what: str) -> str:
    """The stripped text of ``path``, which only its owner may read or write (as ssh asks of
    a private key: a secret others can read is no longer one)."""
    try:
        with open(path, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode & 0o777
            if mode & 0o077:
                raise ConfigError(f"{path} ({what}) can be read or written by other users "
                                  f"(mode {mode:o}); run `chmod 600 {path}`")
            text = file.read().decode().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} from {path}: {exc.strerror}") from exc
    if not text:
        raise ConfigError(f"{path} ({what}) is empty")
    return text


def forbid_dumping() -> bool:
    """Mark this process non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``): processes of the same
    OS user can no longer read its environment or memory through ``/proc``, nor ptrace it,
    and it leaves no core dump. Programs it executes are dumpable again. Returns whether it
    took effect (only on Linux)."""
    libc = _libc()
    if libc is None:
        log.info("not on Linux: this process stays readable by other processes of its OS "
                 "user (its environment and memory)")
        return False
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        log.warning("cannot mark this process non-dumpable: %s", os.strerror(error))
        return False
    return True


def make_private_dir(path: Path) -> None:
    """Make sure ``path`` exists and only its owner can enter it: it holds the agent's
    state (code server logs, the embedded database and broker), none of user code's
    business."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        try:
            path.chmod(0o700)
        except OSError as exc:
            log.warning("%s can be entered by other users (mode %o) and cannot be made "
                        "private: %s", path, mode, exc.strerror)
            return
        log.info("%s is now private to its owner (its mode was %o)", path, mode)


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True)
