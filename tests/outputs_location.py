"""A code location whose job uses named outputs, an optional output it does not produce, an
ordering-only dependency and a nested graph, and whose last step fails while a marker file
exists, and a job that fans out over a DynamicOut: what the code-server snapshot test and
the end-to-end outputs test load."""

from __future__ import annotations

from pathlib import Path

DEFS = '''
from pathlib import Path

from tether import (Definitions, DynamicOut, DynamicOutput, In, Nothing, Out, Output, graph,
                    job, op)

MARKER = Path({marker!r})


@op(out={{"evens": Out(list), "odds": Out(list)}})
def split() -> tuple[list[int], list[int]]:
    return [2, 4], [1, 3, 5]


@op(out={{"total": Out(int), "warning": Out(str, is_required=False)}})
def check(evens: list[int]):
    yield Output(sum(evens), output_name="total")
    if not evens:
        yield Output("no even numbers", output_name="warning")


@op
def alert(warning: str) -> None:
    print(f"ALERT {{warning}}")


@op
def prepare() -> None:
    print("prepared")


@op
def double(x: int) -> int:
    return 2 * x


@graph
def inner(x):
    return double(x)


@graph
def outer(x):
    return inner(inner(x))


@op(ins={{"ready": In(Nothing)}})
def report(odds: list[int], total: int) -> None:
    if MARKER.exists():
        raise RuntimeError(f"the marker {{MARKER}} says fail")
    print(f"odds={{sum(odds)}} total={{total}}")


@job
def outputs_job() -> None:
    evens, odds = split()
    total, warning = check(evens)
    alert(warning)
    report(odds, outer(total), ready=prepare())


@op(out=DynamicOut(str))
def files():
    for name in ("a", "bb", "ccc"):
        yield DynamicOutput(name, mapping_key=name)


@op
def size(name: str) -> int:
    return len(name)


@op
def total(sizes: list[int]) -> None:
    print(f"sizes={{sizes}}")


@job
def fan_job() -> None:
    total(files().map(size).collect())


defs = Definitions(jobs=[outputs_job, fan_job])
'''

# what a run of outputs_job reports per step while the marker exists
PARENT_OUTCOMES = {
    "split": "STEP_SUCCESS", "check": "STEP_SUCCESS", "alert": "STEP_SKIPPED",
    "prepare": "STEP_SUCCESS", "outer.inner.double": "STEP_SUCCESS",
    "outer.inner_2.double": "STEP_SUCCESS", "report": "STEP_FAILURE"}


def write_outputs_location(directory: Path) -> tuple[Path, Path]:
    """Write the location into ``directory`` with its marker set; returns its defs file and
    the marker, to delete for success."""
    project = directory / "outputs"
    project.mkdir()
    marker = directory / "markers" / "fail-report"
    marker.parent.mkdir()
    marker.touch()
    defs = project / "defs.py"
    defs.write_text(DEFS.format(marker=str(marker)))
    return defs, marker
