"""Asset checks run in process: ``@asset_check`` steps after their asset, check specs an
asset's own step reports on, blocking vs non-blocking failures, and the errors for bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tether import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetSpec,
    Definitions,
    InputContext,
    IOManager,
    MaterializeResult,
    Metadata,
    Output,
    OutputContext,
    asset,
    asset_check,
    define_asset_job,
    materialize,
    multi_asset,
)
from tether.errors import AssetCheckFailed, DefinitionError, OutputMismatch
from tether.sdk import snapshot_definitions
from tether.wire import (
    IntValue,
    StepFailure,
    StepSkipped,
    StepSuccess,
    UrlValue,
    event_message,
)


@asset
def orders() -> list[int]:
    return [3, 1, 2]


@asset
def report(orders: list[int]) -> int:
    return sum(orders)


def outcomes(result: Any) -> dict[str, str]:
    return {e.step_key: type(e).__name__ for e in result.events
            if isinstance(e, StepSuccess | StepFailure | StepSkipped)}


def test_a_check_receives_the_stored_asset_and_its_result_is_an_event() -> None:
    seen: list[list[int]] = []

    @asset_check(asset=orders, description="every order has a positive amount")
    def positive(orders: list[int]) -> AssetCheckResult:
        seen.append(orders)
        return AssetCheckResult(passed=all(n > 0 for n in orders),
                                metadata={"rows": len(orders),
                                          "docs": Metadata.url("https://docs.example/c")})

    result = materialize([orders, positive, report])
    assert result.success and seen == [[3, 1, 2]]
    # the check's step follows its asset's
    order = [e.step_key for e in result.events if isinstance(e, StepSuccess)]
    assert order.index("orders__positive") > order.index("orders")
    evaluation = result.asset_check_evaluation("orders", "positive")
    assert (evaluation.passed, evaluation.severity, evaluation.blocking) == (True, "ERROR", False)
    assert evaluation.metadata == {"rows": IntValue(value=3),
                                   "docs": UrlValue(url="https://docs.example/c")}
    assert evaluation.step_key == "orders__positive"
    assert event_message(evaluation) == "Check positive of asset orders passed"
    assert [e.check_name for e in result.get_asset_check_evaluations()] == ["positive"]


def test_a_failed_non_blocking_check_is_recorded_and_the_run_succeeds() -> None:
    @asset_check(asset="orders")
    def sorted_rows(orders: list[int]) -> AssetCheckResult:
        return AssetCheckResult(passed=orders == sorted(orders), description="not sorted")

    result = materialize([orders, sorted_rows, report])
    assert result.success
    assert outcomes(result) == {"orders": "StepSuccess", "orders__sorted_rows": "StepSuccess",
                                "report": "StepSuccess"}
    evaluation = result.asset_check_evaluation("orders", "sorted_rows")
    assert not evaluation.passed
    assert event_message(evaluation) == \
        "Check sorted_rows of asset orders failed (ERROR): not sorted"


def test_a_failed_blocking_error_check_fails_its_step_and_skips_the_downstream() -> None:
    @asset_check(asset=orders, blocking=True)
    def enough_rows(orders: list[int]) -> AssetCheckResult:
        return AssetCheckResult(passed=len(orders) > 10, description="3 rows")

    @asset_check(asset=orders, blocking=True)
    def only_warns() -> AssetCheckResult:
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN)

    result = materialize([orders, enough_rows, only_warns, report], raise_on_error=False)
    assert not result.success
    assert outcomes(result) == {"orders": "StepSuccess", "orders__enough_rows": "StepFailure",
                                "orders__only_warns": "StepSuccess", "report": "StepSkipped"}
    failure = result.step_failures[0]
    assert failure.error.class_name == "AssetCheckFailed"
    assert failure.error.message == (
        "blocking check 'enough_rows' of asset 'orders' failed: 3 rows; the steps downstream "
        "of the asset do not run")
    skipped = next(e for e in result.events if isinstance(e, StepSkipped))
    assert "orders__enough_rows" in skipped.reason
    # the WARN failure of a blocking check blocks nothing
    assert not result.asset_check_evaluation("orders", "only_warns").passed
    # raise_on_error raises the check's failure, as a test would want it
    with pytest.raises(AssetCheckFailed, match="enough_rows"):
        materialize([orders, enough_rows, report])


def test_a_check_that_raises_or_returns_something_else_fails_its_step_saying_why() -> None:
    @asset_check(asset=orders)
    def explodes(orders: list[int]) -> AssetCheckResult:
        raise ValueError(f"cannot check {len(orders)} rows")

    @asset_check(asset=orders)
    def says_yes() -> Any:
        return True

    result = materialize([orders, explodes, says_yes, report], raise_on_error=False)
    assert not result.success
    assert outcomes(result)["report"] == "StepSuccess"  # neither is blocking
    errors = {e.step_key: e.error for e in result.step_failures}
    assert errors["orders__explodes"].message == "cannot check 3 rows"
    assert "raise ValueError" in errors["orders__explodes"].stack
    assert "_executor.py" not in errors["orders__explodes"].stack
    assert errors["orders__says_yes"].class_name == "OutputMismatch"
    assert errors["orders__says_yes"].message == (
        "asset check 'says_yes' of asset 'orders' (step orders__says_yes) returned a bool "
        "(True); a check returns AssetCheckResult(passed=..., metadata=...)")
    assert result.get_asset_check_evaluations() == []


def test_check_specs_are_reported_by_the_assets_own_step() -> None:
    @asset(check_specs=[AssetCheckSpec("non_empty", blocking=True),
                        AssetCheckSpec("small")])
    def numbers() -> Any:
        yield Output([1, 2], metadata={"rows": 2})
        yield AssetCheckResult(passed=True, check_name="non_empty")
        yield AssetCheckResult(passed=False, check_name="small",
                               severity=AssetCheckSeverity.WARN)

    @asset(check_specs=[AssetCheckSpec("fresh", blocking=True)])
    def table() -> MaterializeResult:
        return MaterializeResult(metadata={"rows": 0},
                                 check_results=[AssetCheckResult(passed=False)])

    @asset(deps=[table])
    def downstream() -> int:
        return 1

    result = materialize([numbers, table, downstream], raise_on_error=False)
    assert result.asset_value("numbers") == [1, 2]
    checks = {(e.asset_key, e.check_name): (e.passed, e.step_key)
              for e in result.get_asset_check_evaluations()}
    assert checks == {("numbers", "non_empty"): (True, "numbers"),
                      ("numbers", "small"): (False, "numbers"),
                      ("table", "fresh"): (False, "table")}
    # the blocking failure fails the asset's step once its materialization is recorded
    assert outcomes(result) == {"numbers": "StepSuccess", "table": "StepFailure",
                                "downstream": "StepSkipped"}
    assert [e.step_key for e in result.events if type(e).__name__ == "AssetMaterialization"] \
        == ["numbers", "table"]


def test_an_asset_step_must_report_exactly_its_check_specs() -> None:
    @asset(check_specs=[AssetCheckSpec("a"), AssetCheckSpec("b")])
    def forgetful() -> MaterializeResult:
        return MaterializeResult(check_results=[AssetCheckResult(passed=True,
                                                                 check_name="a")])

    @asset(check_specs=[AssetCheckSpec("a")])
    def inventive() -> MaterializeResult:
        return MaterializeResult(check_results=[AssetCheckResult(passed=True,
                                                                 check_name="zzz")])

    @asset
    def undeclared() -> MaterializeResult:
        return MaterializeResult(check_results=[AssetCheckResult(passed=True)])

    result = materialize([forgetful, inventive, undeclared], raise_on_error=False)
    errors = {e.step_key: e.error.message for e in result.step_failures}
    assert errors["forgetful"].startswith(
        "step forgetful reported no result for check 'b' of asset 'forgetful'")
    assert errors["inventive"] == ("step inventive reported a result for check_name='zzz', "
                                   "which it does not declare (its checks: 'a' of asset "
                                   "'inventive')")
    assert errors["undeclared"].startswith(
        "step undeclared reported a check result, but its asset declares no check_specs")


def test_a_multi_asset_reports_the_checks_of_its_assets() -> None:
    @multi_asset(specs=[AssetSpec("low"), AssetSpec("high")],
                 check_specs=[AssetCheckSpec("ordered", asset="high", blocking=True)])
    def bounds() -> Any:
        yield Output((1, 9))
        yield AssetCheckResult(passed=True)

    result = materialize([bounds])
    assert result.success
    assert [(e.asset_key, e.check_name, e.step_key)
            for e in result.get_asset_check_evaluations()] == [("high", "ordered", "bounds")]
    with pytest.raises(DefinitionError, match="must say which of its assets"):
        multi_asset(specs=[AssetSpec("a"), AssetSpec("b")],
                    check_specs=[AssetCheckSpec("c")])(lambda: (1, 2))


def test_checks_are_in_the_snapshot_and_in_asset_jobs_that_materialize_their_asset() -> None:
    @asset_check(asset=orders, additional_deps=["report"])
    def matches_report(orders: list[int]) -> AssetCheckResult:
        """The report adds the orders up."""
        return AssetCheckResult(passed=True)

    defs = Definitions(assets=[orders, report], asset_checks=[matches_report],
                       jobs=[define_asset_job("all"), define_asset_job("report_only", "report")])
    snapshot = snapshot_definitions(defs, "here")
    checks = {a.key: [(c.name, c.blocking, c.step, c.additional_deps, c.description)
                      for c in a.checks] for a in snapshot.assets}
    assert checks == {"orders": [("matches_report", False, "orders__matches_report", ["report"],
                                  "The report adds the orders up.")], "report": []}
    jobs = {job.name: {n.name: n for n in job.nodes} for job in snapshot.jobs}
    check_node = jobs["all"]["orders__matches_report"]
    assert (check_node.check_asset_key, check_node.check_name) == ("orders", "matches_report")
    assert [(i.name, i.from_node, i.nothing) for i in check_node.inputs] == [
        ("orders", "orders", False), ("report", "report", True)]
    # the check is left out of a job without its asset
    assert set(jobs["report_only"]) == {"report"}
    # blocking, it would have to run before report and after it
    blocking = asset_check(asset=orders, name="matches_report", blocking=True,
                           additional_deps=["report"])(matches_report.op.fn)
    with pytest.raises(DefinitionError) as raised:
        Definitions(assets=[orders, report, blocking], jobs=[define_asset_job("all")])
    assert str(raised.value) == (
        "job 'all': dependency cycle among orders__matches_report, report (a blocking check "
        "runs before its asset's downstream steps, so it cannot also read one of them with "
        "additional_deps: make it non-blocking, or drop that dependency)")


def test_bad_checks_fail_the_definitions_with_clear_messages() -> None:
    @asset_check(asset="ordrs")
    def typo() -> AssetCheckResult:
        return AssetCheckResult(passed=True)

    with pytest.raises(DefinitionError) as raised:
        Definitions(assets=[orders, typo])
    assert str(raised.value) == ("asset check 'typo' checks asset 'ordrs', which no asset in "
                                 "these Definitions defines; did you mean 'orders'?")

    @asset_check(asset=orders, name="typo")
    def again() -> AssetCheckResult:
        return AssetCheckResult(passed=True)

    @asset_check(asset=orders, name="typo")
    def twice() -> AssetCheckResult:
        return AssetCheckResult(passed=True)

    with pytest.raises(DefinitionError, match="asset 'orders' has two checks named 'typo'"):
        Definitions(assets=[orders, again, twice])
    with pytest.raises(DefinitionError, match="parameter 'rows' is not the asset"):
        asset_check(asset=orders, name="c")(lambda rows: None)
    with pytest.raises(DefinitionError, match="names the asset it checks"):
        asset_check(typo.op.fn)
    with pytest.raises(DefinitionError, match="must be 1 to 128 letters"):
        AssetCheckSpec("has rows")
    with pytest.raises(OutputMismatch):
        materialize([orders, asset_check(asset=orders, name="nothing")(lambda: None)])
    with pytest.raises(TypeError, match="passed"):
        AssetCheckResult(passed="yes")  # type: ignore[arg-type]


class LakeIO(IOManager):
    """Stores what the job makes in memory; reads the external asset ``lake/files`` from
    what another system wrote (here a dict), as a warehouse's IO manager would."""

    def __init__(self, written: dict[str, Any]) -> None:
        self.written = written
        self.loaded: list[tuple[str | None, str]] = []

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        self.written[str(context.asset_key or context.step_key)] = obj

    def load_input(self, context: InputContext) -> Any:
        self.loaded.append((context.asset_key, context.step_key))
        return self.written[str(context.asset_key or context.upstream_output.step_key)]


def test_a_check_of_an_external_asset_loads_it_through_its_io_manager_in_a_step_of_its_own(
        ) -> None:
    lake = AssetSpec("lake/files", description="dropped by the vendor's SFTP job")

    @asset_check(asset=lake, description="the vendor sent at least one file")
    def has_files(files: list[str]) -> AssetCheckResult:
        return AssetCheckResult(passed=bool(files), metadata={"files": len(files)})

    @asset_check(asset="lake/files", name="arrived")
    def arrived() -> AssetCheckResult:  # no parameter: it does not load the asset
        return AssetCheckResult(passed=True)

    @asset(deps=[lake])
    def inventory() -> int:
        return 3

    io = LakeIO({"lake/files": ["a.csv", "b.csv"]})
    result = materialize([lake, inventory, has_files, arrived], resources={"io_manager": io})
    assert [(e.check_name, e.passed, e.metadata) for e in
            result.get_asset_check_evaluations()] == [
        ("has_files", True, {"files": IntValue(value=2)}), ("arrived", True, {})]
    assert io.loaded == [("lake/files", "lake__files__has_files")]
    # its own steps, in a job selecting the external asset alone too
    defs = Definitions(assets=[lake, inventory, has_files, arrived],
                       jobs=[define_asset_job("check_lake", [lake])],
                       resources={"io_manager": LakeIO({"lake/files": []})})
    job = defs.get_job("check_lake")
    assert [(n.name, dict(n.asset_inputs)) for n in job.nodes] == [
        ("lake__files__has_files", {"files": "lake/files"}), ("lake__files__arrived", {})]
    failed = materialize([lake, has_files], resources={"io_manager": LakeIO({"lake/files": []})})
    assert [e.passed for e in failed.get_asset_check_evaluations()] == [False]
    snapshot = snapshot_definitions(defs, "lake")
    [spec] = [a for a in snapshot.assets if a.key == "lake/files"]
    assert spec.external and [c.name for c in spec.checks] == ["has_files", "arrived"]
    # an external asset without checks still has nothing for a job to do
    with pytest.raises(DefinitionError, match="none of them has an @asset_check to run"):
        Definitions(assets=[AssetSpec("other")], jobs=[define_asset_job("j", ["other"])])
