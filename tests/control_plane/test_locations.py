"""Deploying, redeploying and removing code locations: generations, idempotence, stale
results, and the GraphQL mutations with their roles."""

from __future__ import annotations

import pytest

from tether.control_plane.errors import LocationNotFound
from tether.control_plane.storage import LocationStatus, Store
from tether.wire import (
    ErrorInfo,
    LoadLocation,
    LocationLoaded,
    LocationLoadFailed,
    LocationRemoved,
    LocationSpec,
    RemoveLocation,
)

from .conftest import FakeClock, snapshot, spec
from .test_http import ControlPlane, anyio_backend, cp  # noqa: F401 (fixtures)


def claim_loads(store: Store) -> list[tuple[str, int, LoadLocation]]:
    return [(item.work_id, item.epoch, item.payload)
            for item in store.claim_work("agent", ["default"], 100, 60)
            if isinstance(item.payload, LoadLocation)]


def test_each_deploy_is_a_new_generation_and_an_identical_open_one_adds_nothing(
        store: Store, clock: FakeClock) -> None:
    first = store.deploy_location(spec())
    assert store.deploy_location(spec()).generation == first.generation
    [(work_id, epoch, load)] = claim_loads(store)
    assert load.generation == first.generation
    # still loading (claimed, not done): deploying the same spec again piles up nothing
    assert store.deploy_location(spec()).generation == first.generation
    store.store_results([LocationLoaded(work_id=work_id, epoch=epoch, location="hello",
                                        snapshot=snapshot(), generation=load.generation)])
    clock.advance(0.0001)
    # once loaded, the same spec deploys again: new code behind an unchanged spec
    second = store.deploy_location(spec())
    assert second.generation > first.generation and second.status == LocationStatus.LOADING
    assert second.snapshot is not None, "the last good snapshot stays while it reloads"
    [(_, _, reload)] = claim_loads(store)
    assert reload.generation == second.generation


def test_a_late_result_of_an_older_deploy_does_not_decide_the_newer_one(store: Store) -> None:
    store.deploy_location(spec())
    [(work_id, epoch, old)] = claim_loads(store)
    newer = store.deploy_location(LocationSpec(name="hello", module="hello.other"))
    assert newer.generation > old.generation
    error = ErrorInfo(class_name="SyntaxError", message="bad", stack="the old traceback")
    receipt = store.store_results([LocationLoadFailed(
        work_id=work_id, epoch=epoch, location="hello", error=error, generation=old.generation)])
    assert receipt.stored == 1
    location = store.get_location("hello")
    assert location is not None and (location.status, location.error) == ("LOADING", None)
    # a restart report (no work item) of the current deploy does decide it
    store.store_results([LocationLoaded(location="hello", snapshot=snapshot(),
                                        generation=newer.generation)])
    location = store.get_location("hello")
    assert location is not None and location.status == LocationStatus.LOADED


def test_remove_forgets_the_location_and_asks_the_agent_to_stop_it(store: Store) -> None:
    deployed = store.deploy_location(spec())
    removed = store.remove_location("hello")
    assert removed.name == "hello" and store.list_locations() == []
    # the pending load was retired; only the removal is left to claim
    [item] = store.claim_work("agent", ["default"], 100, 60)
    assert item.payload == RemoveLocation(name="hello", generation=deployed.generation)
    receipt = store.store_results([LocationRemoved(work_id=item.work_id, epoch=item.epoch,
                                                   location="hello")])
    assert receipt.stored == 1
    with pytest.raises(LocationNotFound, match="no code location named 'hello'"):
        store.remove_location("hello")
    with pytest.raises(LocationNotFound):
        store.redeploy_location("hello")


DEPLOY = """mutation($location: LocationInput!) {
  deployLocation(location: $location) {
    name status generation module pythonFile workingDirectory python attribute queue envNames
  }
}"""


@pytest.mark.anyio
async def test_the_deploy_mutations_and_who_may_call_them(
        cp: ControlPlane) -> None:  # noqa: F811 (the fixture imported above)
    location = {"name": "etl", "module": "etl.defs", "workingDirectory": "/srv/etl",
                "python": "/srv/etl/.venv/bin/python", "env": {"DB_PASSWORD": "s3cret"},
                "queue": "gpu"}
    body = (await cp.graphql(DEPLOY, location=location)).json()
    assert "errors" not in body, body
    assert body["data"]["deployLocation"] == {
        "name": "etl", "status": "LOADING", "generation": body["data"]["deployLocation"][
            "generation"], "module": "etl.defs", "pythonFile": None,
        "workingDirectory": "/srv/etl", "python": "/srv/etl/.venv/bin/python",
        "attribute": "defs", "queue": "gpu", "envNames": ["DB_PASSWORD"]}
    assert "s3cret" not in str(body)

    both = {**location, "pythonFile": "defs.py"}
    bad = (await cp.graphql(DEPLOY, location=both)).json()["errors"][0]
    assert bad["extensions"]["code"] == "BAD_INPUT"
    assert "exactly one of `module` and `python_file`" in bad["message"]
    bad_name = (await cp.graphql(DEPLOY, location={**location, "name": "../x"})).json()
    assert bad_name["errors"][0]["extensions"]["code"] == "BAD_INPUT"

    launcher = cp.store.create_token("user", role="launcher")
    viewer = cp.store.create_token("user", role="viewer")
    refused = (await cp.graphql(DEPLOY, token=launcher, location=location)).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "use an admin token" in refused["errors"][0]["message"]
    redeploy = 'mutation { redeployLocation(name: "etl") { name status } }'
    assert "errors" not in (await cp.graphql(redeploy, token=launcher)).json()
    refused = (await cp.graphql(redeploy, token=viewer)).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    remove = 'mutation { removeLocation(name: "etl") { name } }'
    refused = (await cp.graphql(remove, token=launcher)).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    removed = (await cp.graphql(remove)).json()
    assert removed["data"]["removeLocation"] == {"name": "etl"}
    missing = (await cp.graphql(remove)).json()
    assert missing["errors"][0]["extensions"]["code"] == "LOCATION_NOT_FOUND"


@pytest.mark.anyio
async def test_a_location_deploys_with_an_image_and_an_agent_kind(
        cp: ControlPlane) -> None:  # noqa: F811 (the fixture imported above)
    query = """mutation($location: LocationInput!) {
      deployLocation(location: $location) { name image agentKind }
    }"""
    location = {"name": "etl", "pythonFile": "/app/defs.py", "image": "registry/etl:3f2a1c",
                "agentKind": "docker"}
    body = (await cp.graphql(query, location=location)).json()
    assert body["data"]["deployLocation"] == {"name": "etl", "image": "registry/etl:3f2a1c",
                                              "agentKind": "docker"}
    # the agent gets the image with the load work item
    [load] = [load for _, _, load in claim_loads(cp.store) if load.location.name == "etl"]
    assert (load.location.image, load.location.agent_kind) == ("registry/etl:3f2a1c", "docker")

    bad = (await cp.graphql(query, location={**location, "agentKind": "ecs"})).json()
    assert bad["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "agent_kind 'ecs' is not one of process, docker, kubernetes" in \
        bad["errors"][0]["message"]
