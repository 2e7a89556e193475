"""Dagster's ``Definitions`` over Tether's: Dagster's keyword names and its ``get_*_def``
look-ups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import sdk
from ..sdk._asset_key import coerce_key
from ._errors import refuse


class Definitions(sdk.Definitions):
    """Dagster's ``Definitions``: Tether's, with Dagster's keyword names (also positional,
    in Dagster's order)."""

    __slots__ = ()

    def __init__(self, assets: Iterable[Any] | None = None,
                 schedules: Iterable[Any] | None = None, sensors: Iterable[Any] | None = None,
                 jobs: Iterable[Any] | None = None, resources: Mapping[str, Any] | None = None,
                 executor: Any = None, loggers: Mapping[str, Any] | None = None,
                 asset_checks: Iterable[Any] | None = None,
                 metadata: Mapping[str, Any] | None = None, component_tree: Any = None) -> None:
        refuse("Definitions", {"executor": executor, "loggers": loggers, "metadata": metadata,
                               "component_tree": component_tree}, {
            "executor": "choose the executor per job (@tether.job(executor=...)) or in the "
                        "run config's execution section",
            "loggers": "log with context.log; each call is an event of the run",
            "metadata": "describe the code location in its workspace entry",
            "component_tree": "declare the definitions in Python",
        })
        super().__init__(assets=list(assets or ()), schedules=list(schedules or ()),
                         sensors=list(sensors or ()), jobs=list(jobs or ()),
                         resources=dict(resources or {}), asset_checks=list(asset_checks or ()))

    @staticmethod
    def validate_loadable(defs: sdk.Definitions) -> None:
        """Dagster's check that ``defs`` load: Tether checks them when they are made, and
        again here when merged alone (a name defined twice, a job no one defines)."""
        sdk.Definitions.merge(defs)

    def get_job_def(self, name: str) -> Any:
        return self.get_job(name)

    def resolve_job_def(self, name: str) -> Any:
        return self.get_job(name)

    def get_assets_def(self, key: Any) -> sdk.AssetDefinition:
        return self.assets[_key(key)]

    def resolve_assets_def(self, key: Any) -> sdk.AssetDefinition:
        return self.assets[_key(key)]

    def get_schedule_def(self, name: str) -> Any:
        return self.schedules[name]

    def resolve_schedule_def(self, name: str) -> Any:
        return self.schedules[name]

    def get_sensor_def(self, name: str) -> Any:
        return self.sensors[name]

    def resolve_sensor_def(self, name: str) -> Any:
        return self.sensors[name]

def _key(key: Any) -> str:
    return coerce_key(key, "Definitions.get_assets_def").to_string()
