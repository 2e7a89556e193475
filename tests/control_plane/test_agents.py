"""Agents as a fleet in the store: heartbeats, liveness, and why a queued run waits."""

from __future__ import annotations

from tether.control_plane.storage import LIVENESS_SECONDS, Store
from tether.wire import AgentHeartbeat, CodeServerStatus, WorkerStatus

from .conftest import FakeClock, load_location


def heartbeat(agent_id: str, queues: list[str], restarts: int = 0) -> AgentHeartbeat:
    server = CodeServerStatus(location="hello", pid=7, address="127.0.0.1:5000", running=True,
                              restarts=restarts)
    worker = WorkerStatus(kind="supervisor", consumer=f"{agent_id}-supervisor-1", pid=3,
                          started_at=1.0, seen_at=2.0, code_servers=[server],
                          recent_errors=["12:00:00 WARNING code server restarted"])
    return AgentHeartbeat(agent_id=agent_id, version="0.1.0", queues=queues, timestamp=2.0,
                          workers=[worker])


def test_heartbeats_are_kept_per_agent_latest_first(store: Store, clock: FakeClock) -> None:
    store.record_heartbeat(heartbeat("a", ["default"]))
    clock.advance(5)
    store.record_heartbeat(heartbeat("a", ["default", "ml"], restarts=1))
    store.record_heartbeat(heartbeat("b", ["etl"]))

    agents = store.list_agents()
    assert [a.agent_id for a in agents] == ["a", "b"]
    assert agents[0].queues == ["default", "ml"]
    assert agents[0].heartbeat.workers[0].code_servers[0].restarts == 1
    assert agents[0].last_heartbeat == clock.now and agents[0].is_alive(clock.now)
    assert not agents[0].is_alive(clock.now + LIVENESS_SECONDS + 1)


def test_a_queued_run_says_why_it_waits(store: Store, clock: FakeClock) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    assert "no live agent serves queue 'default'" in (store.waiting_reason(run_id) or "")

    store.record_heartbeat(heartbeat("a", ["default"]))
    assert store.waiting_reason(run_id) == \
        "waiting for an agent serving queue 'default' to claim it"

    clock.advance(LIVENESS_SECONDS + 1)  # the agent went silent
    assert "no live agent" in (store.waiting_reason(run_id) or "")

    store.claim_work("a", ["default"], 10, 30)
    assert store.waiting_reason(run_id) is None  # STARTING: no longer waiting
