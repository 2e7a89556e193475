"""`tether location deploy`'s reading of its flags and files: what spec reaches the control
plane, and the errors a CI job's author sees for a wrong command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.cli import build_parser
from tether.cli._location import specs_from_args
from tether.errors import ConfigError
from tether.wire import LocationSpec


def specs(cwd: Path, *argv: str) -> list[LocationSpec]:
    return specs_from_args(build_parser().parse_args(["location", "deploy", *argv]), cwd)


def test_flags_make_one_spec_with_paths_as_the_agent_host_sees_them(tmp_path: Path) -> None:
    venv_python = tmp_path / "venv" / "bin" / "python"
    [spec] = specs(tmp_path, "etl", "--python-file", "defs.py", "-d", "project",
                   "--python", "venv/bin/python", "--env", "A=1", "--env", "B=x=y",
                   "--queue", "gpu", "--attribute", "definitions")
    assert spec == LocationSpec(
        name="etl", python_file=str(tmp_path / "project" / "defs.py"),
        working_directory=str(tmp_path / "project"), python=str(venv_python),
        attribute="definitions", env={"A": "1", "B": "x=y"}, queue="gpu")
    [bare] = specs(tmp_path, "etl", "--module", "etl.defs", "--python", "python3.12")
    assert (bare.module, bare.python, bare.working_directory) == (
        "etl.defs", "python3.12", str(tmp_path))


def test_a_workspace_file_deploys_its_locations_or_the_one_named(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "workspace.toml").write_text(
        '[[locations]]\nname = "a"\nmodule = "a.defs"\n'
        '[[locations]]\nname = "b"\npython_file = "b.py"\nworking_directory = ".."\n')
    both = specs(tmp_path, "--file", "ci/workspace.toml")
    assert [(s.name, s.working_directory) for s in both] == [
        ("a", str(tmp_path / "ci")), ("b", str(tmp_path))]
    [b] = specs(tmp_path, "b", "--file", "ci/workspace.toml")
    assert b.python_file == str(tmp_path / "b.py")
    with pytest.raises(ConfigError, match="has no location named 'c'"):
        specs(tmp_path, "c", "--file", "ci/workspace.toml")


@pytest.mark.parametrize(("argv", "message"), [
    ((), "name the location"),
    (("etl",), "pass --module or --python-file"),
    (("etl", "--module", "m", "--env", "NOVALUE"), "write NAME=VALUE"),
    (("--file", "w.toml", "--module", "m"), "either --file or --module/--python-file"),
])
def test_wrong_command_lines_say_what_to_do(tmp_path: Path, argv: tuple[str, ...],
                                            message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        specs(tmp_path, *argv)
