"""Loading a code location from a module or a file, and what a user sees when it breaks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tether.errors import CodeLocationLoadError
from tether.sdk import Definitions, load_definitions
from tether.wire import LocationSpec

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "hello"

GOOD = """
from tether import Definitions, job, op
from {helper} import VALUE

@op
def one():
    return VALUE

@job
def only_job():
    one()

defs = Definitions(jobs=[only_job])
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_loads_the_example_module() -> None:
    defs = load_definitions(
        LocationSpec(name="hello", module="hello.defs", working_directory=str(HELLO))
    )
    assert isinstance(defs, Definitions)
    assert set(defs.jobs) == {"hello_job", "broken_job", "slow_job", "export_job",
                              "refresh_assets", "morning_report_assets"}
    assert set(defs.schedules) == {"every_five_minutes", "morning_report"}
    assert [n.name for n in defs.get_job("hello_job").nodes] == ["extract", "transform", "load"]


def test_loads_a_python_file_that_imports_its_siblings(tmp_path: Path) -> None:
    write(tmp_path, "file_helper_a.py", "VALUE = 41\n")
    write(tmp_path, "file_location_a.py", GOOD.format(helper="file_helper_a"))
    defs = load_definitions(
        LocationSpec(name="f", python_file=str(tmp_path / "file_location_a.py"))
    )
    assert defs.get_job("only_job").nodes[0].op.fn() == 41


def test_python_file_relative_to_working_directory_and_custom_attribute(tmp_path: Path) -> None:
    write(tmp_path, "file_helper_b.py", "VALUE = 1\n")
    text = GOOD.format(helper="file_helper_b").replace("defs = ", "my_defs = ")
    write(tmp_path, "file_location_b.py", text)
    spec = LocationSpec(
        name="f",
        python_file="file_location_b.py",
        working_directory=str(tmp_path),
        attribute="my_defs",
    )
    assert "only_job" in load_definitions(spec).jobs


def load_error(spec: LocationSpec) -> CodeLocationLoadError:
    with pytest.raises(CodeLocationLoadError) as caught:
        load_definitions(spec)
    return caught.value


def test_syntax_error_shows_the_line(tmp_path: Path) -> None:
    write(tmp_path, "syntax_broken.py", "x = 1\ndef broken(:\n    pass\n")
    error = load_error(LocationSpec(name="s", python_file=str(tmp_path / "syntax_broken.py")))
    assert "code location 's'" in str(error) and "SyntaxError" in str(error)
    assert "syntax_broken.py" in error.user_traceback
    assert "def broken(:" in error.user_traceback
    assert "importlib" not in error.user_traceback


def test_import_error_in_a_module_shows_the_users_import(tmp_path: Path) -> None:
    package = tmp_path / "import_broken_pkg"
    package.mkdir()
    write(package, "__init__.py", "")
    write(package, "defs.py", "import os\nimport no_such_module_xyz\n")
    error = load_error(
        LocationSpec(name="m", module="import_broken_pkg.defs", working_directory=str(tmp_path))
    )
    assert "ModuleNotFoundError" in str(error)
    assert "no_such_module_xyz" in str(error)
    assert 'import_broken_pkg/defs.py", line 2, in <module>' in error.user_traceback
    assert "_loader.py" not in error.user_traceback


def test_definition_error_at_import_shows_the_users_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "definition_broken.py",
        """
        from tether import Definitions, job, op

        @op
        def needs(value):
            return value

        @job
        def wrong():
            needs()

        defs = Definitions(jobs=[wrong])
        """,
    )
    error = load_error(LocationSpec(name="d", python_file=str(tmp_path / "definition_broken.py")))
    assert "DefinitionError" in str(error) and "missing input 'value'" in str(error)
    assert "in wrong" in error.user_traceback
    assert "needs()" in error.user_traceback


def test_missing_module_attribute_and_wrong_type(tmp_path: Path) -> None:
    write(tmp_path, "no_defs_here.py", "something_else = 1\ndefs = 42\n")
    spec = LocationSpec(name="a", python_file=str(tmp_path / "no_defs_here.py"))
    assert "not a tether.Definitions" in str(load_error(spec))
    missing = LocationSpec(name="a", python_file=spec.python_file, attribute="nothing")
    assert "has no attribute 'nothing'" in str(load_error(missing))
    gone = LocationSpec(name="a", python_file=str(tmp_path / "does_not_exist.py"))
    assert "FileNotFoundError" in str(load_error(gone))
