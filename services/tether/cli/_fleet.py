"""``tether agent list``: the agents serving this deployment, as the control plane sees them."""

from __future__ import annotations

import argparse
import time

AGENTS = """
{ agents { id version alive queues lastHeartbeat recentErrors
    workers { kind consumer pid runningRuns }
    codeServers { location pid address running restarts } } }
"""


def list_agents(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        agents = client.execute(AGENTS)["agents"]
    finally:
        client.close()
    if not agents:
        print("no agent has sent a heartbeat yet")
        return 0
    now = time.time()
    for agent in agents:
        state = "alive" if agent["alive"] else "DOWN"
        age = now - agent["lastHeartbeat"]
        print(f"{agent['id']}  {state}  (heartbeat {age:.0f} s ago, version "
              f"{agent['version']}, queues: {', '.join(agent['queues'])})")
        counts: dict[str, int] = {}
        for worker in agent["workers"]:
            counts[worker["kind"]] = counts.get(worker["kind"], 0) + 1
        running = sum(worker["runningRuns"] for worker in agent["workers"])
        workers = ", ".join(f"{kind} x{count}" for kind, count in sorted(counts.items()))
        print(f"    workers: {workers or 'none'}; runs in progress: {running}")
        for server in agent["codeServers"]:
            status = "running" if server["running"] else "down"
            print(f"    code server {server['location']}: {status} at {server['address']} "
                  f"(pid {server['pid']}, restarts {server['restarts']})")
        for error in agent["recentErrors"][-5:]:
            print(f"    recent: {error}")
    return 0
