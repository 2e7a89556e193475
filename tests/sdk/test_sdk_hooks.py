"""``@success_hook`` and ``@failure_hook`` on ops and jobs: called after a step's outcome,
never changing it."""

from __future__ import annotations

import pytest

from tether import HookContext, failure_hook, job, op, success_hook
from tether.errors import DefinitionError
from tether.wire import LogMessage, StepFailure, StepSuccess

seen: list[str] = []


@pytest.fixture(autouse=True)
def clear_seen() -> None:
    seen.clear()


@success_hook
def on_success(context: HookContext) -> None:
    seen.append(f"success {context.step_key} of {context.job_name}")


@failure_hook
def on_failure(context: HookContext) -> None:
    assert context.error is not None
    seen.append(f"failure {context.step_key}: {context.error.class_name} "
                f"{context.error.message}")


@failure_hook(name="pager")
def page(context: HookContext) -> None:
    raise RuntimeError("the pager is down")


@op
def extract() -> int:
    return 1


@op
def explode(value: int) -> int:
    raise ValueError(f"bad value {value}")


@op
def independent() -> str:
    return "ok"


@job(hooks={on_failure})
def nightly() -> None:
    explode(extract.with_hooks({on_success})())
    independent()


def test_op_hooks_and_job_hooks_follow_each_steps_outcome() -> None:
    result = nightly.execute_in_process(raise_on_error=False)
    assert not result.success
    assert seen == ["success extract of nightly", "failure explode: ValueError bad value 1"]
    # the hook is called after the step's outcome is recorded
    explode_events = result.events_for_node("explode")
    assert isinstance(explode_events[-1], StepFailure)
    # independent succeeded, but only extract carries the success hook
    assert "success independent of nightly" not in seen


def test_a_hook_that_raises_is_a_warning_and_changes_no_outcome() -> None:
    @job(hooks={page, on_success})
    def paged() -> None:
        explode(extract())

    result = paged.execute_in_process(raise_on_error=False)
    assert seen == ["success extract of paged"]
    [warning] = [e for e in result.events
                 if isinstance(e, LogMessage) and e.level == "WARNING"]
    assert warning.step_key == "explode"
    assert "failure hook 'pager' of step explode raised RuntimeError: the pager is down" \
        in warning.message
    assert "test_sdk_hooks.py" in warning.message
    assert [type(e) for e in result.events_for_node("extract")][-1] is StepSuccess
    assert [e.step_key for e in result.step_failures] == ["explode"]

    @job(hooks={page})
    def fine() -> None:
        extract()

    assert fine.execute_in_process().success


def test_hooks_are_checked_when_the_job_is_defined() -> None:
    with pytest.raises(DefinitionError, match="hooks are @success_hook or @failure_hook"):
        @job(hooks={print})  # type: ignore[arg-type]
        def wrong() -> None:
            extract()
    with pytest.raises(DefinitionError, match="a hook takes one parameter"):
        success_hook(lambda: None)  # type: ignore[arg-type]
