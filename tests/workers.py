"""What makes the suite safe on several pytest-xdist workers at once (``scripts/test`` runs
it so, ``--dist loadfile``): each worker's own database of the machine's Redis, the units of
work (a module, or a folder of modules that share one thing of the machine's) that one
worker runs in order, and the turns that let a test marked ``alone`` run with no other test
beside it."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

# folders whose tests share one thing of the machine's, so that one worker runs them all:
# the Docker Engine, which the first of its tests starts on one fixed socket and the
# worker's session stops at its end. (Within a module, its fixtures of module scope, e.g.
# the run-user tests' OS user of one fixed name, are a module's own: `--dist loadfile`.)
ONE_WORKER = ("tests/docker/",)


def worker_redis_url(url: str, worker: str | None) -> str:
    """The machine's Redis database for this pytest process: ``url``'s own, or for worker
    ``gwN`` the one ``N`` below it, as each test empties its database (so 15, 14, 13 by
    default)."""
    if not worker:
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    index = int(worker.removeprefix("gw"))
    if index > base:
        raise pytest.UsageError(
            f"TETHER_TEST_REDIS_URL={url} leaves no database for pytest-xdist worker "
            f"{worker}: worker gwN uses database {base} - N, so name database {index} or "
            "above")
    return urlunsplit(parts._replace(path=f"/{base - index}"))


def unit_of_work(nodeid: str) -> str:
    """The unit of work of the test ``nodeid``: its module, or its folder in
    ``ONE_WORKER``."""
    for folder in ONE_WORKER:
        if nodeid.startswith(folder):
            return folder
    return nodeid.partition("::")[0]


class Scheduling:
    """With ``--dist loadfile``, hands each worker whole units of work (``unit_of_work``)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "loadfile":
            return None
        from xdist.scheduler import LoadScopeScheduling

        class ByUnitOfWork(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return unit_of_work(nodeid)

        return ByUnitOfWork(config, log)


@contextmanager
def turn(item: pytest.Item, folder: Path) -> Iterator[None]:
    """Hold this worker's turn for ``item``: a test marked ``alone`` waits until the other
    workers' tests have ended and keeps new ones from starting until it ends; any other
    test runs beside the others. Two locks in ``folder`` (the run's, shared by its
    workers): ``gate``, held briefly by every test on its way in and for the whole test by
    an ``alone`` one, so that a waiting ``alone`` test is not starved by tests that keep
    starting; and ``running``, shared by the tests that run, exclusive for an ``alone``
    one."""
    alone = item.get_closest_marker("alone") is not None
    with (folder / "gate.lock").open("a") as gate, (folder / "running.lock").open("a") as running:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(running, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(gate, fcntl.LOCK_UN)
        yield
