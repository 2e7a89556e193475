"""A real store on SQLite (a file in tmp_path) and on PostgreSQL (a fresh schema, dropped
afterwards), with a clock the tests move by hand so leases expire without sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.control_plane.storage import Store
from tether.wire import (
    AssetSnapshot,
    JobSnapshot,
    LoadLocation,
    LocationLoaded,
    LocationSnapshot,
    LocationSpec,
    OpInputSnapshot,
    OpNodeSnapshot,
)


class FakeClock:
    """The store's clock seam: epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tether.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(database_url: str, clock: FakeClock) -> Iterator[Store]:
    store = Store.from_url(database_url, clock=clock)
    store.migrate()
    yield store
    store.close()


def spec(name: str = "hello", queue: str = "default") -> LocationSpec:
    return LocationSpec(name=name, module=f"{name}.defs", queue=queue)


def snapshot(location: str = "hello", jobs: tuple[str, ...] = ("hello_job",)) -> LocationSnapshot:
    return LocationSnapshot(
        location=location,
        jobs=[
            JobSnapshot(
                name=job,
                description=f"the {job}",
                nodes=[
                    OpNodeSnapshot(name="extract", op="extract", asset_key="raw"),
                    OpNodeSnapshot(
                        name="load",
                        op="load",
                        inputs=[OpInputSnapshot(name="rows", from_node="extract")],
                    ),
                ],
            )
            for job in jobs
        ],
        assets=[AssetSnapshot(key="raw", description="raw rows"),
                AssetSnapshot(key="clean", deps=["raw"])],
    )


def load_location(
    store: Store, name: str = "hello", jobs: tuple[str, ...] = ("hello_job",),
    defines: LocationSnapshot | None = None,
) -> None:
    """Deploy a location and answer its load as an agent would: with ``defines``, or jobs
    named ``jobs`` of two steps each (extract, then load)."""
    store.deploy_location(spec(name))
    items = [
        item
        for item in store.claim_work("loader", ["default"], 100, 60)
        if isinstance(item.payload, LoadLocation) and item.payload.location.name == name
    ]
    assert items, f"no LoadLocation item for {name}"
    receipt = store.store_results(
        [LocationLoaded(work_id=item.work_id, epoch=item.epoch, location=name,
                        snapshot=defines or snapshot(name, jobs),
                        generation=item.payload.generation)
         for item in items]
    )
    assert receipt.stored == len(items)
