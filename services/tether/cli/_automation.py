"""``tether schedule ...`` and ``tether sensor ...``: list, start, stop, tick now, and the tick
history."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any

AUTOMATIONS = """query($kind: String) { automations(kind: $kind) {
  name location jobName running cron timezone minimumIntervalSeconds cursor nextTickTime } }"""
SET_RUNNING = """mutation($kind: String!, $name: String!, $running: Boolean!, $location: String) {
  setAutomationRunning(kind: $kind, name: $name, running: $running, location: $location) {
    name location running nextTickTime } }"""
TICK = """mutation($kind: String!, $name: String!, $location: String, $time: Float) {
  tickAutomation(kind: $kind, name: $name, location: $location, scheduledTime: $time) {
    id scheduledTime status } }"""
TICKS = """query($kind: String, $limit: Int) { automations(kind: $kind) { name location
  running nextTickTime
  ticks(limit: $limit) { id scheduledTime status runIds existingRuns { runKey runId }
    skipReason error createdAt } } }"""


def register(commands: Any) -> None:
    for kind in ("schedule", "sensor"):
        parser = commands.add_parser(kind, help=f"list, start and stop {kind}s; see their ticks")
        actions = parser.add_subparsers(dest=f"{kind}_command", required=True, metavar="COMMAND")
        listing = actions.add_parser("list", help=f"every {kind}, started or not, and its next "
                                                  "tick")
        listing.set_defaults(handler=_list, kind=kind)
        for action, running in (("start", True), ("stop", False)):
            change = actions.add_parser(action, help=f"{action} a {kind}")
            change.add_argument("name")
            change.add_argument("--location", help=f"the code location (when several define "
                                                   f"the {kind})")
            change.set_defaults(handler=_set_running, kind=kind, running=running)
        tick = actions.add_parser("tick", help=f"evaluate a {kind} once now, started or "
                                               "stopped, and launch the runs it asks for")
        tick.add_argument("name")
        tick.add_argument("--location", help=f"the code location (when several define the "
                                             f"{kind})")
        if kind == "schedule":
            tick.add_argument("--time", type=_iso_time, metavar="ISO",
                              help="the time the tick is due, e.g. 2026-12-01T00:00:00+00:00 "
                                   "(default: now; no offset: local time)")
        tick.set_defaults(handler=_tick, kind=kind)
        history = actions.add_parser("ticks", help=f"a {kind}'s newest ticks: runs requested, "
                                                   "skip reasons, errors")
        history.add_argument("name")
        history.add_argument("--limit", type=int, default=20)
        history.set_defaults(handler=_ticks, kind=kind)


def _list(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        automations = client.execute(AUTOMATIONS, kind=args.kind)["automations"]
    finally:
        client.close()
    if not automations:
        print(f"no {args.kind}s: define one with @{args.kind} in a code location's Definitions")
        return 0
    for item in automations:
        when = (f"every {item['minimumIntervalSeconds']:g} s" if item["cron"] is None
                else f"{item['cron']} ({item['timezone']})")
        state = "started" if item["running"] else "stopped"
        upcoming = f"; next tick {_time(item['nextTickTime'])}" if item["nextTickTime"] else ""
        print(f"{item['name']:<24} {state:<8} {when} -> {item['jobName']} "
              f"[{item['location']}]{upcoming}")
    return 0


def _set_running(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        item = client.execute(SET_RUNNING, kind=args.kind, name=args.name, running=args.running,
                              location=args.location)["setAutomationRunning"]
    finally:
        client.close()
    upcoming = f"; next tick {_time(item['nextTickTime'])}" if item["nextTickTime"] else ""
    print(f"{args.kind} {item['name']} [{item['location']}] is "
          f"{'started' if item['running'] else 'stopped'}{upcoming}")
    return 0


def _iso_time(text: str) -> float:
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time; write e.g. 2026-12-01T00:00:00+00:00") from None


def _tick(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        tick = client.execute(TICK, kind=args.kind, name=args.name, location=args.location,
                              time=getattr(args, "time", None))["tickAutomation"]
    finally:
        client.close()
    due = f" due {_time(tick['scheduledTime'])}" if tick["scheduledTime"] else ""
    print(f"{args.kind} {args.name}: tick {tick['id']}{due} is {tick['status']}; see it with "
          f"`tether {args.kind} ticks {args.name}`")
    return 0


def _ticks(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        automations = client.execute(TICKS, kind=args.kind, limit=args.limit)["automations"]
    finally:
        client.close()
    found = [item for item in automations if item["name"] == args.name]
    if not found:
        raise ConfigError(f"no {args.kind} named {args.name!r}; known: "
                          f"{', '.join(item['name'] for item in automations) or 'none'}")
    for item in found:
        if not item["ticks"]:
            print(_no_ticks(args.kind, item))
        for tick in item["ticks"]:
            due = f" due {_time(tick['scheduledTime'])}" if tick["scheduledTime"] else ""
            print(f"{_time(tick['createdAt'])}  {tick['status']:<10}{due} "
                  f"{_tick_outcome(tick)}".rstrip())
            if tick["error"]:
                print("\n".join("    " + line for line in tick["error"].rstrip().splitlines()))
    return 0


def _tick_outcome(tick: dict[str, Any]) -> str:
    """What a tick did, in words: the runs it created, the run keys that had a run already
    (so it created none for them), the user's skip reason."""
    parts = []
    if tick["runIds"]:
        parts.append(f"created run{'s' if len(tick['runIds']) > 1 else ''} "
                     f"{', '.join(tick['runIds'])}")
    parts += [f"run key {existing['runKey']!r} has run {existing['runId']} already, "
              "not created again" for existing in tick["existingRuns"]]
    if tick["skipReason"]:
        parts.append(tick["skipReason"])
    return "; ".join(parts)


def _no_ticks(kind: str, item: dict[str, Any]) -> str:
    where = f"{kind} {item['name']} [{item['location']}]"
    if not item["running"]:
        return f"no ticks yet: {where} is stopped; `tether {kind} start {item['name']}`"
    upcoming = f", due {_time(item['nextTickTime'])}" if item["nextTickTime"] else ""
    return f"no ticks yet: {where} is started; its first tick comes{upcoming}"


def _time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
