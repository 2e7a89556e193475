"""``tether backfill launch|list|show|cancel|rerun-failed``: runs of many partitions of a job
or of a selection of assets."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

FIELDS = """id location jobName assetSelection status partitionCount partitionRange
  counts { status count } progress failedPartitions launchedBy parentId createdAt endedAt"""

LAUNCH = f"""
mutation Launch($location: String, $jobName: String, $assets: [String!], $from: String,
                $to: String, $partitions: [String!], $tags: JSON) {{
  launchBackfill(location: $location, jobName: $jobName, assetSelection: $assets,
                 from: $from, to: $to, partitions: $partitions, tags: $tags) {{ {FIELDS} }}
}}"""
LIST = f"""query List($limit: Int) {{ backfills(limit: $limit) {{ {FIELDS} }} }}"""
SHOW = f"""query Show($id: ID!, $runs: Int) {{
  backfill(id: $id) {{ {FIELDS} runs(limit: $runs) {{ id status partition
  partitionRange {{ start end }} }} }} }}"""
PROGRESS = f"""query Progress($id: ID!) {{ backfill(id: $id) {{ {FIELDS} }} }}"""
CANCEL = f"""mutation Cancel($id: ID!) {{ cancelBackfill(id: $id) {{ {FIELDS} }} }}"""
RERUN = f"""mutation Rerun($id: ID!) {{ rerunFailedBackfill(id: $id) {{ {FIELDS} }} }}"""

ENDED = {"CANCELED", "COMPLETED", "FAILED"}
# how often --wait asks how the backfill is doing
POLL_SECONDS = 0.5


def register(commands: Any) -> None:
    parser = commands.add_parser("backfill", help="run many partitions of a job or of assets")
    actions = parser.add_subparsers(dest="backfill_command", required=True, metavar="COMMAND")

    launch = actions.add_parser(
        "launch", help="backfill partitions of a partitioned job, or of partitioned assets")
    launch.add_argument("target", metavar="JOB_OR_ASSETS",
                        help="a job's name, or asset keys joined by ',' (with --assets)")
    launch.add_argument("--assets", action="store_true",
                        help="JOB_OR_ASSETS names asset keys, not a job")
    launch.add_argument("--location", help="the code location (required for assets when "
                                           "several are loaded)")
    launch.add_argument("--from", dest="first", metavar="KEY",
                        help="the first partition (default: the first one)")
    launch.add_argument("--to", dest="last", metavar="KEY",
                        help="the last partition, included (default: the last one)")
    launch.add_argument("--partitions", metavar="A,B,...",
                        help="these partitions rather than a range")
    launch.add_argument("--tags", help="tags of its runs, as a JSON object")
    launch.add_argument("--wait", action="store_true",
                        help="show its progress until it ends; exit 1 unless it completes")
    launch.set_defaults(handler=_launch)

    listing = actions.add_parser("list", help="the newest backfills")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="a backfill: counts, failed partitions, runs")
    show.add_argument("id")
    show.add_argument("--runs", type=int, default=20, help="how many of its runs to list")
    show.set_defaults(handler=_show)

    cancel = actions.add_parser("cancel", help="stop a backfill and cancel its runs")
    cancel.add_argument("id")
    cancel.set_defaults(handler=_cancel)

    rerun = actions.add_parser("rerun-failed",
                               help="a new backfill of an ended backfill's failed partitions")
    rerun.add_argument("id")
    rerun.add_argument("--wait", action="store_true", help="show its progress until it ends")
    rerun.set_defaults(handler=_rerun)


def _execute(document: str, **variables: Any) -> dict[str, Any]:
    from ._graphql import execute

    return execute(document, **variables)


def _launch(args: argparse.Namespace) -> int:
    from ..errors import ConfigError

    tags = None
    if args.tags is not None:
        try:
            tags = json.loads(args.tags)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--tags is not JSON: {exc}") from exc
    if args.partitions is not None and (args.first or args.last):
        raise ConfigError("give either --from/--to or --partitions, not both")
    names = [name.strip() for name in args.target.split(",") if name.strip()]
    backfill = _execute(
        LAUNCH, location=args.location, jobName=None if args.assets else args.target,
        assets=names if args.assets else None, **{"from": args.first, "to": args.last},
        partitions=(None if args.partitions is None
                    else [key.strip() for key in args.partitions.split(",") if key.strip()]),
        tags=tags)["launchBackfill"]
    print(f"backfill {backfill['id']}: {_target(backfill)}, {backfill['partitionCount']} "
          f"partition(s) ({backfill['partitionRange']})")
    return _wait(backfill["id"]) if args.wait else 0


def _wait(backfill_id: str) -> int:
    """Show the backfill's progress until it ends; 0 when it completed."""
    shown = ""
    while True:
        backfill = _execute(PROGRESS, id=backfill_id)["backfill"]
        line = _progress_line(backfill)
        if line != shown:
            print(line, flush=True)
            shown = line
        if backfill["status"] in ENDED:
            break
        time.sleep(POLL_SECONDS)
    if backfill["failedPartitions"]:
        print(f"failed partitions: {_listed(backfill['failedPartitions'])}", file=sys.stderr)
    return 0 if backfill["status"] == "COMPLETED" else 1


def _progress_line(backfill: dict[str, Any]) -> str:
    done = round(backfill["progress"] * 100)
    bar = "#" * (done // 5) + "." * (20 - done // 5)
    return f"[{bar}] {done:3d}% {backfill['status']:<9} {_counts(backfill)}"


def _counts(backfill: dict[str, Any]) -> str:
    return ", ".join(f"{count['status']} {count['count']}" for count in backfill["counts"]) \
        or "no runs yet"


def _target(backfill: dict[str, Any]) -> str:
    if backfill["jobName"] is not None:
        return f"job {backfill['jobName']}"
    return "assets " + ", ".join(backfill["assetSelection"] or ())


def _listed(keys: list[str], most: int = 20) -> str:
    return ", ".join(keys[:most]) + (f" and {len(keys) - most} more" if len(keys) > most
                                     else "")


def _time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _list(args: argparse.Namespace) -> int:
    found = _execute(LIST, limit=args.limit)["backfills"]
    if not found:
        print("no backfills yet")
    for backfill in found:
        print(f"{backfill['id']}  {backfill['status']:<9}  {_time(backfill['createdAt'])}  "
              f"{backfill['location']}: {_target(backfill)}  "
              f"{backfill['partitionCount']} partition(s)  "
              f"{round(backfill['progress'] * 100)}% done")
    return 0


def _show(args: argparse.Namespace) -> int:
    from ..errors import ControlPlaneError

    backfill = _execute(SHOW, id=args.id, runs=args.runs)["backfill"]
    if backfill is None:
        raise ControlPlaneError(f"no backfill {args.id!r}: `tether backfill list` lists them")
    print(f"backfill {backfill['id']}: {backfill['location']}: {_target(backfill)}")
    print(f"  status:     {backfill['status']}")
    print(f"  partitions: {backfill['partitionCount']} ({backfill['partitionRange']})")
    print(f"  progress:   {_progress_line(backfill)}")
    print(f"  launched:   {_time(backfill['createdAt'])} by {backfill['launchedBy'] or '-'}")
    print(f"  ended:      {_time(backfill['endedAt'])}")
    if backfill["parentId"]:
        print(f"  re-runs the failed partitions of backfill {backfill['parentId']}")
    if backfill["failedPartitions"]:
        print(f"  failed:     {_listed(backfill['failedPartitions'])}")
    for run in backfill["runs"]:
        ranged = run["partitionRange"]
        covers = run["partition"] if ranged is None else f"{ranged['start']} to {ranged['end']}"
        print(f"  run {run['id']}  {run['status']:<9}  {covers}")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    backfill = _execute(CANCEL, id=args.id)["cancelBackfill"]
    print(f"backfill {backfill['id']} is {backfill['status']} ({_counts(backfill)})")
    return 0


def _rerun(args: argparse.Namespace) -> int:
    backfill = _execute(RERUN, id=args.id)["rerunFailedBackfill"]
    print(f"backfill {backfill['id']} re-runs {backfill['partitionCount']} failed "
          f"partition(s) of backfill {args.id}")
    return _wait(backfill["id"]) if args.wait else 0
