"""``Definitions``: everything one code location defines, validated as a whole."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import DefinitionError, JobNotFoundError
from ._asset import AssetDefinition, AssetJobDefinition
from ._asset_key import close_matches
from ._automation import ScheduleDefinition, SensorDefinition
from ._checks import AssetCheckDefinition
from ._graph import JobDefinition, Node, topological_order
from ._io_manager import DEFAULT_IO_MANAGER_KEY, IOManager
from ._multi_asset import AssetSpec, MultiAssetDefinition, external_asset
from ._resources import ResourceDefinition


class Definitions:
    """The jobs, assets, resources, schedules and sensors of a code location; the object a
    location's ``defs`` names.

    ``assets`` takes ``@asset`` and ``@multi_asset`` definitions, and ``AssetSpec`` s of
    assets produced outside Tether; ``asset_checks`` (or ``assets``) the ``@asset_check`` s,
    each of an asset defined here. Job names, asset keys and schedule and sensor names must
    be unique, every asset dependency must be an asset defined here, every resource an op
    asks for must be in ``resources``, asset jobs (and their selections) are resolved against
    the assets, and each schedule and sensor must target a job defined here, all at
    construction time.
    """

    __slots__ = ("_given_assets", "_given_jobs", "asset_checks", "assets", "jobs",
                 "multi_assets", "resources", "schedules", "sensors")

    def __init__(
        self,
        *,
        jobs: Iterable[JobDefinition | AssetJobDefinition] = (),
        assets: Iterable[AssetDefinition | MultiAssetDefinition | AssetSpec
                         | AssetCheckDefinition] = (),
        schedules: Iterable[ScheduleDefinition] = (),
        sensors: Iterable[SensorDefinition] = (),
        resources: Mapping[str, Any] | None = None,
        asset_checks: Iterable[AssetCheckDefinition] = (),
    ) -> None:
        self.resources: dict[str, Any] = dict(resources or {})
        jobs = list(jobs)
        # as given, unresolved: merge() resolves asset jobs again against all the assets
        self._given_jobs: tuple[JobDefinition | AssetJobDefinition, ...] = tuple(jobs)
        self.assets: dict[str, AssetDefinition] = {}
        # @multi_asset definitions by step name; their assets are in self.assets too
        self.multi_assets: dict[str, MultiAssetDefinition] = {}
        self._given_assets = (*assets, *asset_checks)
        given_checks: list[AssetCheckDefinition] = []
        for given in self._given_assets:
            if isinstance(given, AssetCheckDefinition):
                given_checks.append(given)
                continue
            if isinstance(given, MultiAssetDefinition):
                if given.node_name in self.multi_assets:
                    raise DefinitionError(f"two multi-assets are named {given.node_name!r}")
                self.multi_assets[given.node_name] = given
                produced = given.assets
            elif isinstance(given, AssetSpec):
                produced = [external_asset(given)]
            elif isinstance(given, AssetDefinition):
                produced = [given]
            else:
                raise DefinitionError(
                    f"Definitions(assets=...) takes @asset, @multi_asset and @asset_check "
                    f"definitions and AssetSpecs, got {given!r}"
                )
            for definition in produced:
                self._add_asset(definition)
        self._check_asset_deps()
        # the @asset_check s of each asset, by its key
        self.asset_checks: dict[str, list[AssetCheckDefinition]] = self._checks_of(given_checks)

        self._check_asset_cycles()
        schedules, sensors = list(schedules), list(sensors)
        # schedules and sensors bring the job they target (the one they made of assets, or
        # the definition given as job=), unless that very job is listed
        implicit = [d.target_job for d in (*schedules, *sensors)
                    if isinstance(d, ScheduleDefinition | SensorDefinition) and d.target_job]
        self.jobs: dict[str, JobDefinition] = {}
        for entry in {id(entry): entry for entry in [*jobs, *implicit]}.values():
            if isinstance(entry, AssetJobDefinition):
                resolved = entry.resolve(self.assets, self.multi_assets, self.asset_checks)
            elif isinstance(entry, JobDefinition):
                resolved = entry
            else:
                raise DefinitionError(
                    f"Definitions(jobs=...) takes @job or define_asset_job definitions, "
                    f"got {entry!r}"
                )
            if resolved.name in self.jobs:
                raise DefinitionError(f"two jobs are named {resolved.name!r}")
            self.jobs[resolved.name] = resolved
        self.schedules = self._named("schedules", ScheduleDefinition, schedules)
        self.sensors = self._named("sensors", SensorDefinition, sensors)
        self._check_resources()

    @staticmethod
    def merge(*definitions: Definitions) -> Definitions:
        """One ``Definitions`` of several (one per module of a project, say): their assets,
        jobs, schedules, sensors and resources, checked together as at construction, so a
        name defined twice is an error. Asset jobs are resolved again against all the
        assets: ``AssetSelection.all()`` selects the merged assets."""
        resources: dict[str, Any] = {}
        for part in definitions:
            if not isinstance(part, Definitions):
                raise DefinitionError(f"Definitions.merge takes Definitions, got {part!r}")
            for name, resource in part.resources.items():
                if name in resources and resources[name] is not resource:
                    raise DefinitionError(
                        f"Definitions.merge: two different resources are named {name!r}")
                resources[name] = resource
        return Definitions(
            assets=[a for part in definitions for a in part._given_assets],
            jobs=[j for part in definitions for j in part._given_jobs],
            schedules=[d for part in definitions for d in part.schedules.values()],
            sensors=[d for part in definitions for d in part.sensors.values()],
            resources=resources,
        )

    def _named(self, what: str, kind: type[Any], definitions: Iterable[Any]) -> dict[str, Any]:
        """Schedules or sensors by name, each of a job defined here."""
        named: dict[str, Any] = {}
        for definition in definitions:
            if not isinstance(definition, kind):
                raise DefinitionError(f"Definitions({what}=...) takes @{what[:-1]} "
                                      f"definitions, got {definition!r}")
            if definition.name in named:
                raise DefinitionError(f"two {what} are named {definition.name!r}")
            if definition.job_name not in self.jobs:
                known = ", ".join(sorted(self.jobs)) or "none"
                raise DefinitionError(f"{what[:-1]} {definition.name!r} targets job "
                                      f"{definition.job_name!r}, which these Definitions do "
                                      f"not define; known jobs: {known}")
            named[definition.name] = definition
        return named

    def __repr__(self) -> str:
        return f"<Definitions jobs={list(self.jobs)} assets={list(self.assets)}>"

    def get_job(self, name: str) -> JobDefinition:
        try:
            return self.jobs[name]
        except KeyError:
            known = ", ".join(sorted(self.jobs)) or "none"
            raise JobNotFoundError(
                f"no job named {name!r} in this code location; known jobs: {known}"
            ) from None

    def _check_resources(self) -> None:
        for job in self.jobs.values():
            for node in job.nodes:
                missing = [name for name in node.op.resource_params
                           if name not in self.resources]
                if missing:
                    known = ", ".join(sorted(self.resources)) or "none"
                    raise DefinitionError(
                        f"op {node.op.name!r} (job {job.name!r}) takes the resource(s) "
                        f"{', '.join(map(repr, missing))}, which Definitions(resources=...) "
                        f"does not define; defined: {known}"
                    )
                key = node.op.io_manager_key
                if key is not None and key != DEFAULT_IO_MANAGER_KEY:
                    self._check_io_manager(key, f"op {node.op.name!r} (job {job.name!r})")
        for key, definition in self.assets.items():
            io_manager_key = definition.op.io_manager_key
            if io_manager_key is not None and io_manager_key != DEFAULT_IO_MANAGER_KEY:
                self._check_io_manager(io_manager_key, f"asset {key!r}")
        default = self.resources.get(DEFAULT_IO_MANAGER_KEY)
        # a @resource function's value is checked when the run sets it up
        if default is not None and not isinstance(default, IOManager | ResourceDefinition):
            raise DefinitionError(
                f"resource {DEFAULT_IO_MANAGER_KEY!r} replaces the default IO manager, so it "
                f"must be an IOManager; it is a {type(default).__name__}")

    def _check_io_manager(self, key: str, user: str) -> None:
        resource = self.resources.get(key)
        if not isinstance(resource, IOManager | ResourceDefinition):
            problem = ("Definitions(resources=...) does not define it" if resource is None
                       else f"it is a {type(resource).__name__}, not an IOManager")
            raise DefinitionError(f"{user} stores its output with io_manager_key={key!r}, "
                                  f"but {problem}")

    def _add_asset(self, definition: AssetDefinition) -> None:
        if definition.key in self.assets:
            raise DefinitionError(f"two assets have the key {definition.key!r}")
        self.assets[definition.key] = definition

    def _check_asset_deps(self) -> None:
        steps = {name: f"multi-asset {name!r}" for name in self.multi_assets}
        for definition in self.assets.values():
            this = f"asset {definition.key!r}"
            clash = (this if definition.external
                     else steps.setdefault(definition.asset_key.node_name, this))
            if clash != this:
                raise DefinitionError(
                    f"{clash} and {this} would both run as the step "
                    f"{definition.asset_key.node_name!r}; rename one")
            for dep in definition.deps:
                if dep not in self.assets:
                    param = next((p for p, key in definition.inputs.items() if key == dep), None)
                    hint = (f" (its parameter {param!r} reads the asset {dep!r}; name another "
                            f"key with ins={{{param!r}: ...}})"
                            if param is not None and param != dep else "")
                    raise DefinitionError(
                        f"asset {definition.key!r} depends on {dep!r}, which no asset in these "
                        f"Definitions defines{hint}{close_matches(dep, self.assets)}"
                    )

    def _checks_of(self, given: Iterable[AssetCheckDefinition],
                   ) -> dict[str, list[AssetCheckDefinition]]:
        """The checks by asset key, each of an asset defined here and materialized by Tether,
        its name unique among the asset's checks and its step name among the steps."""
        checks: dict[str, list[AssetCheckDefinition]] = {}
        steps = {definition.asset_key.node_name: f"asset {key!r}"
                 for key, definition in self.assets.items()}
        steps.update((name, f"multi-asset {name!r}") for name in self.multi_assets)
        for check in {id(check): check for check in given}.values():
            this = f"asset check {check.name!r}"
            asset = self.assets.get(check.asset_key)
            if asset is None:
                raise DefinitionError(
                    f"{this} checks asset {check.asset_key!r}, which no asset in these "
                    f"Definitions defines{close_matches(check.asset_key, self.assets)}")
            for dep in check.spec.additional_deps:
                if dep not in self.assets:
                    raise DefinitionError(
                        f"{this} of asset {check.asset_key!r}: additional_deps names {dep!r}, "
                        f"which no asset in these Definitions defines"
                        f"{close_matches(dep, self.assets)}")
            names = [spec.name for spec in asset.check_specs] + [
                other.name for other in checks.get(check.asset_key, [])]
            if check.name in names:
                raise DefinitionError(f"asset {check.asset_key!r} has two checks named "
                                      f"{check.name!r}")
            clash = steps.setdefault(check.node_name, this)
            if clash != this:
                raise DefinitionError(f"{clash} and {this} of asset {check.asset_key!r} would "
                                      f"both run as the step {check.node_name!r}; rename one")
            checks.setdefault(check.asset_key, []).append(check)
        return checks

    def _check_asset_cycles(self) -> None:
        # the job graph's ordering, run over a throwaway graph of all assets, finds cycles
        topological_order(
            "assets",
            (
                Node(name=key, op=definition.op, inputs={}, after=definition.deps)
                for key, definition in self.assets.items()
            ),
        )
