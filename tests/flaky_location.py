"""A code location whose job fails in its middle step while a marker file exists: what the
re-execution tests re-execute from failure once the marker is gone."""

from __future__ import annotations

from pathlib import Path

DEFS = '''
from pathlib import Path

from tether import Definitions, job, op

MARKER = Path({marker!r})


@op
def extract() -> list[int]:
    return [1, 2, 3]


@op
def transform(numbers: list[int]) -> list[int]:
    if MARKER.exists():
        raise RuntimeError(f"the marker {{MARKER}} says fail")
    return [n * 10 for n in numbers]


@op
def load(numbers: list[int]) -> None:
    print(f"total = {{sum(numbers)}}")


@op
def audit() -> None:
    print("audited")


@job
def flaky_job() -> None:
    """extract → transform → load, and audit on its own."""
    load(transform(extract()))
    audit()


defs = Definitions(jobs=[flaky_job])
'''

# the steps of flaky_job, in run order
STEPS = ["extract", "transform", "load", "audit"]
# what a re-execution from failure runs: transform failed, load was skipped (transform loads
# the output extract stored)
FROM_FAILURE = ["transform", "load"]


def marker_in(directory: Path) -> Path:
    """The marker of the location written into ``directory``: while it exists, flaky_job
    fails in transform. It lives apart from the code, so deleting it changes no file a warm
    launcher watches."""
    return directory / "markers" / "fail-transform"


def write_flaky_location(directory: Path) -> tuple[str, Path]:
    """Write the location into ``directory`` with its marker set; returns its workspace.toml
    entry and the marker, to delete for success."""
    project = directory / "flaky"
    project.mkdir()
    marker = marker_in(directory)
    marker.parent.mkdir()
    marker.touch()
    (project / "defs.py").write_text(DEFS.format(marker=str(marker)))
    entry = (f'\n[[locations]]\nname = "flaky"\npython_file = "defs.py"\n'
             f'working_directory = "{project}"\n')
    return entry, marker
