"""Jobs record the graph their body wires, and wiring mistakes fail at definition time."""

from __future__ import annotations

import pytest

from tether import Definitions, OpContext, job, op
from tether.errors import DefinitionError, JobNotFoundError
from tether.sdk import JobDefinition


@op
def extract() -> list[int]:
    return [1, 2, 3]


@op
def transform(numbers: list[int]) -> list[int]:
    return [n * 2 for n in numbers]


@op(name="combine_all", description="Add two lists.")
def combine(context: OpContext, left: list[int], right: list[int]) -> int:
    return sum(left) + sum(right)


def edges(definition: JobDefinition) -> dict[str, dict[str, str]]:
    return {node.name: dict(node.inputs) for node in definition.nodes}


def test_job_records_nodes_and_edges_in_call_order() -> None:
    @job
    def pipeline() -> None:
        numbers = extract()
        combine(transform(numbers), right=transform(numbers))

    assert [node.name for node in pipeline.nodes] == [
        "extract",
        "transform",
        "transform_2",
        "combine_all",
    ]
    assert edges(pipeline) == {
        "extract": {},
        "transform": {"numbers": "extract"},
        "transform_2": {"numbers": "extract"},
        "combine_all": {"left": "transform", "right": "transform_2"},
    }
    assert pipeline.node("combine_all").op.description == "Add two lists."
    assert pipeline.node("combine_all").op.takes_context


def test_alias_names_a_node() -> None:
    @job(name="aliased", description="two extracts")
    def pipeline() -> None:
        combine(extract.alias("extract_eu")(), extract.alias("extract_us")())

    assert pipeline.name == "aliased"
    assert pipeline.description == "two extracts"
    assert edges(pipeline)["combine_all"] == {"left": "extract_eu", "right": "extract_us"}


def test_ops_run_directly_outside_a_job() -> None:
    assert transform([1, 2]) == [2, 4]


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (lambda: transform(), ["job 'bad'", "op 'transform'", "missing input 'numbers'"]),
        (lambda: transform(nums=extract()), ["op 'transform'", "unknown input 'nums'"]),
        (lambda: transform([1, 2]), ["op 'transform'", "input 'numbers'", "list"]),
        (lambda: transform(extract(), extract()), ["op 'transform'", "2 positional"]),
        (lambda: None, ["job 'bad'", "calls no op"]),
    ],
)
def test_wiring_mistakes_name_the_job_and_op(body: object, fragments: list[str]) -> None:
    with pytest.raises(DefinitionError) as caught:
        job(name="bad")(body)  # type: ignore[arg-type]
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_using_an_output_in_python_logic_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="only known when the job runs"):

        @job
        def branching() -> None:
            if extract():
                transform(extract())


def test_handles_from_another_job_are_rejected() -> None:
    leaked = []

    @job
    def first() -> None:
        leaked.append(extract())

    with pytest.raises(DefinitionError, match="not the output of another op in this job"):

        @job
        def second() -> None:
            transform(leaked[0])


def test_op_signature_errors_name_the_op() -> None:
    with pytest.raises(DefinitionError, match=r"op 'splat'.*'args'"):

        @op
        def splat(*args: int) -> None: ...

    with pytest.raises(DefinitionError, match="job 'with_params'"):

        @job
        def with_params(x: int) -> None: ...


def test_definitions_reject_duplicate_job_names_and_report_known_jobs() -> None:
    @job(name="same")
    def one() -> None:
        extract()

    @job(name="same")
    def two() -> None:
        extract()

    with pytest.raises(DefinitionError, match="'same'"):
        Definitions(jobs=[one, two])
    defs = Definitions(jobs=[one])
    assert defs.get_job("same") is one
    with pytest.raises(JobNotFoundError, match=r"'nope'.*known jobs: same"):
        defs.get_job("nope")
