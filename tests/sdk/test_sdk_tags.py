"""``@op(tags=...)`` and ``@job(tags=...)``: checked where declared, kept in the snapshot."""

from __future__ import annotations

import msgspec
import pytest

from tether import Definitions, job, op
from tether.errors import DefinitionError
from tether.sdk import snapshot_definitions
from tether.wire import LocationSnapshot


@op(tags={"kind": "sql"})
def query() -> int:
    return 1


@job(tags={"team": "data", "priority": "high"})
def tagged() -> None:
    query()


def test_job_and_op_tags_travel_in_the_snapshot() -> None:
    snapshot = snapshot_definitions(Definitions(jobs=[tagged]), "here")
    # through the wire as the code server sends it
    decoded = msgspec.json.decode(msgspec.json.encode(snapshot), type=LocationSnapshot)
    [job_snapshot] = decoded.jobs
    assert job_snapshot.tags == {"team": "data", "priority": "high"}
    assert job_snapshot.nodes[0].tags == {"kind": "sql"}
    # an old snapshot without tags still decodes
    old = msgspec.json.decode(b'{"location": "x", "jobs": [{"name": "j"}]}',
                              type=LocationSnapshot)
    assert old.jobs[0].tags == {}


def test_a_tag_that_is_not_a_string_is_refused_where_it_is_declared() -> None:
    with pytest.raises(DefinitionError, match="job 'bad': tags must map strings to strings"):
        @job(name="bad", tags={"priority": 1})  # type: ignore[dict-item]
        def bad() -> None:
            query()
    with pytest.raises(DefinitionError, match="op 'worse': tags must map strings"):
        @op(name="worse", tags={"n": 2})  # type: ignore[dict-item]
        def worse() -> None:
            pass


def test_an_ops_pool_travels_in_the_snapshot() -> None:
    @op(pool="warehouse")
    def store_rows() -> None:
        pass

    @job
    def pooled() -> None:
        store_rows()

    [job_snapshot] = snapshot_definitions(Definitions(jobs=[pooled]), "here").jobs
    assert job_snapshot.nodes[0].pool == "warehouse"


def test_an_assets_pool_travels_in_its_jobs_snapshot() -> None:
    from tether import asset, define_asset_job

    @asset(pool="warehouse")
    def orders() -> int:
        return 1

    defs = Definitions(assets=[orders], jobs=[define_asset_job("orders_job")])
    [job_snapshot] = snapshot_definitions(defs, "here").jobs
    assert job_snapshot.nodes[0].pool == "warehouse"
