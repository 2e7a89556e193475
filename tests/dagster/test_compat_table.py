"""docs/dagster.md stays true: every public name of Dagster (as captured from an installed
Dagster into ``dagster_names.txt``) has a row; each supported or different name imports from
``tether.dagster``; each keyword a row says "raises" does raise, naming it; each name not
supported raises, at import, the message its row documents."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tether.dagster as dg
from tether.dagster import NotInTether

ROOT = Path(__file__).resolve().parents[2]
NAMES = [line.strip() for line in (ROOT / "tests/dagster/dagster_names.txt").read_text()
         .splitlines() if line.strip() and not line.startswith("#")]
ROW = re.compile(r"^\| `(?P<name>\w+)` \| (?P<status>supported|different|not supported) \| "
                 r"(?P<note>.*) \|$")


def _table() -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    for line in (ROOT / "docs/dagster.md").read_text().splitlines():
        match = ROW.match(line)
        if match:
            assert match["name"] not in rows, f"{match['name']} has two rows"
            rows[match["name"]] = (match["status"], match["note"].replace("\\|", "|").strip())
    return rows


TABLE = _table()
SUPPORTED = sorted(name for name, (status, _) in TABLE.items() if status != "not supported")
UNSUPPORTED = sorted(name for name, (status, _) in TABLE.items() if status == "not supported")


def test_every_public_dagster_name_has_a_row() -> None:
    assert len(NAMES) > 400  # the captured list is Dagster's, not a stub
    missing = [name for name in NAMES if name not in TABLE]
    assert missing == []
    assert sorted(TABLE) == sorted(NAMES), "rows for names Dagster does not have"


@pytest.mark.parametrize("name", SUPPORTED)
def test_a_supported_name_imports(name: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"from tether.dagster import {name}", namespace)
    assert namespace[name] is getattr(dg, name)
    assert name in dg.__all__
    status, note = TABLE[name]
    assert (status == "different") == bool(note), f"{name}: a different row says how"


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_an_unsupported_name_raises_the_documented_message_at_import(name: str) -> None:
    instead = TABLE[name][1]
    expected = f"dagster.{name} is not supported by Tether; {instead} (see docs/dagster.md)"
    with pytest.raises(NotInTether) as raised:
        exec(f"from tether.dagster import {name}", {})
    assert str(raised.value) == expected
    with pytest.raises(ImportError, match=re.escape(expected)):
        getattr(dg, name)
    assert name not in dg.__all__


# the least each callable needs besides the keyword under test
REQUIRED: dict[str, dict[str, Any]] = {
    "ScheduleDefinition": {"cron_schedule": "0 0 * * *", "job_name": "a_job"},
    "schedule": {"cron_schedule": "0 0 * * *", "job_name": "a_job"},
    "HourlyPartitionsDefinition": {"start_date": "2026-01-01"},
    "DailyPartitionsDefinition": {"start_date": "2026-01-01"},
    "WeeklyPartitionsDefinition": {"start_date": "2026-01-01"},
    "MonthlyPartitionsDefinition": {"start_date": "2026-01-01"},
    "run_status_sensor": {"run_status": "SUCCESS", "request_job": "a_job"},
    "run_failure_sensor": {"request_job": "a_job"},
    "asset_sensor": {"asset_key": "orders", "job_name": "a_job"},
    "sensor": {"job_name": "a_job"},
    "multi_asset_sensor": {"monitored_assets": ["orders"], "job_name": "a_job"},
    "build_schedule_from_partitioned_job": {"job": None},
    "define_asset_job": {"name": "a_job"},
    "materialize": {"assets": []},
    "asset_check": {"asset": "orders"},
    "AssetSpec": {"key": "orders"},
    "AssetCheckSpec": {"name": "positive", "asset": "orders"},
    "Output": {"value": 1},
    "load_assets_from_modules": {"modules": []},
    "load_assets_from_package_module": {"package_module": None},
}
# "x=, y= raise" in a row's note: the keywords that row promises raise
RAISES = re.compile(r"((?:\w+=(?:False)?, )*\w+=(?:False)?) raises?\b")


def _promised() -> list[tuple[str, str]]:
    promised = []
    for name in SUPPORTED:
        for group in RAISES.findall(TABLE[name][1]):
            promised += [(name, keyword.strip()) for keyword in group.split(",")]
    return promised


def test_the_rows_promise_raising_keywords() -> None:
    # the parametrized test below is not vacuous
    assert len(_promised()) > 60


@pytest.mark.parametrize(("name", "keyword"), _promised())
def test_a_keyword_a_row_says_raises_does_raise_naming_it(name: str, keyword: str) -> None:
    argument, _, given = keyword.partition("=")
    value: Any = False if given == "False" else {"set": "by the test"}
    with pytest.raises(NotInTether, match=rf"{name}\({argument}=\.\.\.\) is not supported"):
        made = getattr(dg, name)(**{**REQUIRED.get(name, {}), argument: value})
        if callable(made):
            made(lambda: None)  # a decorator refuses when it is made, at the latest here


def test_importing_tether_dagster_imports_nothing_heavy_and_no_adapter_yet() -> None:
    probe = ("import sys, tether.dagster\n"
             "print(sorted(m for m in sys.modules if m.startswith('tether.dagster.')"
             " or m.split('.')[0] in ('grpc', 'redis', 'sqlalchemy', 'httpx', 'croniter')))")
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout
    assert eval(output) == ["tether.dagster._errors", "tether.dagster._names"]
