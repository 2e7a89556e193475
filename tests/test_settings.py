"""Settings and workspace files: what a user writes, and the errors they get when it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import ConfigError
from tether.settings import load_settings
from tether.workspace import load_workspace


def test_environment_variables_fill_typed_settings() -> None:
    settings = load_settings({"TETHER_PORT": "4000", "TETHER_QUEUES": "etl, ml",
                              "TETHER_STOP_RUNS_ON_EXIT": "true", "OTHER": "x"})
    assert settings.port == 4000
    assert settings.queues == ["etl", "ml"]
    assert settings.stop_runs_on_exit is True


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="TETHER_PORT: Expected `int`, got `str`"):
        load_settings({"TETHER_PORT": "three thousand"})


def test_the_toml_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "tether.toml"
    config.write_text('port = 5000\nurl = "http://cp:5000"\n')
    settings = load_settings({"TETHER_CONFIG": str(config), "TETHER_PORT": "6000"})
    assert (settings.port, settings.url) == (6000, "http://cp:5000")


def test_an_unknown_key_in_the_toml_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "tether.toml"
    config.write_text("prot = 5000\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings({"TETHER_CONFIG": str(config)})


def test_a_missing_required_setting_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError, match="TETHER_REDIS_URL is not set"):
        load_settings({}).require("redis_url")


def test_the_default_database_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    settings = load_settings({"TETHER_DATA_DIR": str(tmp_path)})
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'tether.db'}"


def test_workspace_paths_resolve_against_the_workspace_folder(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    workspace = tmp_path / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "a"\npython_file = "defs.py"\n'
                         'working_directory = "proj"\n'
                         '[[locations]]\nname = "b"\nmodule = "b.defs"\n')
    a, b = load_workspace(workspace)
    assert a.python_file == str(tmp_path / "proj" / "defs.py")
    assert b.working_directory == str(tmp_path)


def test_a_bad_workspace_is_a_clear_error(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "a"\n')
    with pytest.raises(ConfigError, match="exactly one of `module` and `python_file`"):
        load_workspace(workspace)
    workspace.write_text('[[locations]]\nname = "a"\nmodule = "m"\n'
                         '[[locations]]\nname = "a"\nmodule = "n"\n')
    with pytest.raises(ConfigError, match="unique"):
        load_workspace(workspace)


def test_pool_limits_are_a_json_object_of_counts() -> None:
    settings = load_settings({"TETHER_POOL_LIMITS": '{"warehouse": 2, "api": 0}'})
    assert settings.pool_limits == {"warehouse": 2, "api": 0}
    with pytest.raises(ConfigError, match="TETHER_POOL_LIMITS must be a JSON object"):
        load_settings({"TETHER_POOL_LIMITS": "warehouse=2"})
    with pytest.raises(ConfigError, match="TETHER_POOL_LIMITS: Expected `int` >= 0"):
        load_settings({"TETHER_POOL_LIMITS": '{"warehouse": -1}'})
