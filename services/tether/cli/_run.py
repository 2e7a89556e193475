"""``tether run launch|reexecute|cancel|list|logs``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from .._durations import format_duration
from ..errors import ConfigError, ControlPlaneError

if TYPE_CHECKING:
    from ._graphql import GraphQLClient


TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
# a run claimed within this long after its launch never says why it waited
WAITING_GRACE_SECONDS = 1.0

LAUNCH = """
mutation Launch($jobName: String!, $location: String, $runConfig: JSON, $tags: JSON,
               $partition: String) {
  launchRun(jobName: $jobName, location: $location, runConfig: $runConfig, tags: $tags,
            partition: $partition) {
    id status waitingReason partition }
}"""

REEXECUTE = """
mutation Reexecute($id: ID!, $strategy: ReexecutionStrategy) {
  reexecuteRun(id: $id, strategy: $strategy) { id jobName status stepSelection waitingReason }
}"""

CANCEL = """
mutation Cancel($id: ID!) { terminateRun(id: $id) { id status } }"""

PROGRESS = """
query Progress($id: ID!, $after: Int) {
  run(id: $id) {
    status attempt willRetry startTime endTime createdAt waitingReason
    error { className message stack }
    events(afterId: $after) {
      id type stepKey level message timestamp error { className message stack } }
  }
}"""

SCAFFOLD = """
query Scaffold($job: String!, $location: String) {
  job(name: $job, location: $location) { runConfigScaffold }
}"""

WAITING = """query Waiting($id: ID!) { run(id: $id) { status waitingReason } }"""

LIST = """
query List($limit: Int, $status: RunStatus, $jobName: String, $partition: String) {
  runs(limit: $limit, status: $status, jobName: $jobName, partition: $partition) {
    id jobName location status createdAt startTime endTime partition
  }
}"""

LOGS = """
query Logs($id: ID!) {
  run(id: $id) {
    id jobName status
    error { className message stack }
    events { id type stepKey level message timestamp error { className message stack } }
    logs { stream stepKey data }
  }
}"""


def register(commands: Any) -> None:
    run = commands.add_parser("run", help="launch runs and read their results")
    actions = run.add_subparsers(dest="run_command", required=True, metavar="COMMAND")

    launch = actions.add_parser("launch", help="launch a run of a job")
    launch.add_argument("job", help="the job's name")
    launch.add_argument("--location", help="the code location (when several define the job)")
    launch.add_argument("--config", help="run config as JSON", default=None)
    launch.add_argument("--partition", default=None, metavar="KEY",
                        help="the partition to run, for a partitioned job (2026-12-01, "
                             "2026-12-01|eu)")
    launch.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                        help="a tag of the run (repeatable); tags meet the run queue's "
                             "concurrency limits, and tether/priority=N runs it sooner")
    launch.add_argument("--wait", action="store_true",
                        help="show progress until the run ends (its last attempt, when "
                             "tether/max_retries retries it); exit 1 unless it succeeds")
    launch.set_defaults(handler=_launch)

    reexecute = actions.add_parser(
        "reexecute", help="launch an ended run again: its job, location, config and tags")
    reexecute.add_argument("run_id")
    reexecute.add_argument("--from-failure", action="store_true",
                           help="run only the steps that did not succeed; they load the "
                                "stored outputs of the steps that did")
    reexecute.add_argument("--wait", action="store_true",
                           help="show progress until the run ends; exit 1 unless it succeeds")
    reexecute.set_defaults(handler=_reexecute)

    cancel = actions.add_parser("cancel", help="cancel a run (its steps are interrupted)")
    cancel.add_argument("run_id")
    cancel.add_argument("--wait", action="store_true", help="wait until the run has stopped")
    cancel.set_defaults(handler=_cancel)

    listing = actions.add_parser("list", help="show recent runs")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--status", help="only runs with this status, e.g. FAILURE")
    listing.add_argument("--job", help="only runs of this job")
    listing.add_argument("--partition", help="only runs of this partition")
    listing.set_defaults(handler=_list)

    logs = actions.add_parser("logs", help="print a run's events, stdout and stderr")
    logs.add_argument("run_id")
    logs.add_argument("--only", choices=["events", "stdout", "stderr"], default=None)
    logs.set_defaults(handler=_logs)


def _launch(args: argparse.Namespace) -> int:
    run_config = None
    if args.config:
        try:
            run_config = json.loads(args.config)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--config is not valid JSON: {exc}") from exc
    tags = {}
    for tag in args.tag:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise ConfigError(f"--tag {tag!r}: write it as KEY=VALUE")
        tags[key] = value
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        try:
            run = client.execute(LAUNCH, jobName=args.job, location=args.location,
                                 runConfig=run_config, tags=tags or None,
                                 partition=args.partition)["launchRun"]
        except ControlPlaneError as exc:
            shape = (_scaffold_text(client, args.job, args.location)
                     if str(exc).startswith(f"invalid run config for job {args.job}:") else "")
            if not shape:
                raise
            # after the problems, the shape that fixes them
            raise ControlPlaneError(f"{exc}\n{shape}", status_code=exc.status_code) from None
        what = f" partition {run['partition']}" if run.get("partition") else ""
        print(f"Launched run {run['id']} of {args.job}{what} ({run['status']})")
        return _launched(client, run, wait=args.wait)
    finally:
        client.close()


def _scaffold_text(client: GraphQLClient, job: str, location: str | None) -> str:
    """The shape of the job's run config to start from ("" if the job takes none)."""
    found = client.execute(SCAFFOLD, job=job, location=location)["job"]
    if not found or not found["runConfigScaffold"]:
        return ""
    text = json.dumps(found["runConfigScaffold"], indent=2)
    return f"a run config of job {job} to start from (defaults filled in; replace each null):" \
        f"\n{text}"


def _reexecute(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        strategy = "FROM_FAILURE" if args.from_failure else "ALL_STEPS"
        run = client.execute(REEXECUTE, id=args.run_id, strategy=strategy)["reexecuteRun"]
        steps = ("all steps" if run["stepSelection"] is None
                 else "steps " + ", ".join(run["stepSelection"]))
        print(f"Launched run {run['id']} of {run['jobName']} ({run['status']}), re-executing "
              f"{args.run_id}: {steps}")
        return _launched(client, run, wait=args.wait)
    finally:
        client.close()


def _launched(client: GraphQLClient, run: dict[str, Any], *, wait: bool) -> int:
    if wait:
        return _follow(client, run["id"])
    if run["waitingReason"]:
        # most runs are claimed within milliseconds: only one still waiting says why
        deadline = time.monotonic() + WAITING_GRACE_SECONDS
        now = run
        while now["status"] == "QUEUED" and time.monotonic() < deadline:
            time.sleep(0.05)
            now = client.execute(WAITING, id=run["id"])["run"]
        if now["status"] == "QUEUED" and now["waitingReason"]:
            print(f"  waiting: {now['waitingReason']}")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        run = client.execute(CANCEL, id=args.run_id)["terminateRun"]
        print(f"Run {run['id']} is {run['status']}")
        if not args.wait or run["status"] in TERMINAL:
            return 0
        _follow(client, run["id"])
        return 0
    finally:
        client.close()


def _follow(client: GraphQLClient, run_id: str) -> int:
    """Print status changes and events as they arrive, until the run ends: a failure that a
    run-level retry (``tether/max_retries``) will follow is not the end; its last attempt
    decides the exit code."""
    status, after, attempt = "", None, 1
    shown: set[str] = set()
    # why a queued run waits, said once it has waited a moment
    explain_at: float | None = time.monotonic() + WAITING_GRACE_SECONDS
    while True:
        run = client.execute(PROGRESS, id=run_id, after=after)["run"]
        if explain_at is not None and run["status"] != "QUEUED":
            explain_at = None
        elif explain_at is not None and time.monotonic() >= explain_at and run["waitingReason"]:
            print(f"  waiting: {run['waitingReason']}")
            explain_at = None
        for event in run["events"]:
            after = event["id"]
            step = f" [{event['stepKey']}]" if event["stepKey"] else ""
            print(f"  {_clock(event['timestamp'])}  {event['type']:<21}{step} {event['message']}")
            _print_stack(event["error"], shown, indent="      ")
        if run["attempt"] != attempt:
            attempt = run["attempt"]
            print(f"  attempt {attempt}")
        if run["status"] != status:
            status = run["status"]
            retrying = " (will be retried)" if run["willRetry"] else ""
            print(f"  status: {status}{retrying}")
        if status in TERMINAL and not run["willRetry"]:
            break
        time.sleep(0.1)
    took = (run["endTime"] or time.time()) - run["createdAt"]
    print(f"Run {run_id} {status} in {format_duration(took)}")
    # a traceback the events showed already is not repeated
    if run["error"] and run["error"]["stack"] and run["error"]["stack"] not in shown:
        print(run["error"]["stack"].rstrip(), file=sys.stderr)
    return 0 if status == "SUCCESS" else 1


def _list(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        runs = client.execute(LIST, limit=args.limit, status=args.status,
                              jobName=args.job, partition=args.partition)["runs"]
    finally:
        client.close()
    if not runs:
        print("no runs yet")
        return 0
    print(f"{'RUN ID':<36}  {'JOB':<20} {'STATUS':<10} {'CREATED':<19}  {'DURATION':<9} "
          "PARTITION")
    for run in runs:
        duration = ""
        if run["startTime"]:
            duration = format_duration((run["endTime"] or time.time()) - run["startTime"])
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["createdAt"]))
        print(f"{run['id']:<36}  {run['jobName']:<20} {run['status']:<10} {created}  "
              f"{duration:<9} {run['partition'] or ''}".rstrip())
    return 0


def _logs(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        run = client.execute(LOGS, id=args.run_id)["run"]
    finally:
        client.close()
    if run is None:
        raise ConfigError(f"no run with id {args.run_id}; `tether run list` shows recent runs")
    if args.only in (None, "events"):
        print(f"== events of run {run['id']} ({run['jobName']}, {run['status']}) ==")
        shown: set[str] = set()
        for event in run["events"]:
            step = f" [{event['stepKey']}]" if event["stepKey"] else ""
            print(f"{_clock(event['timestamp'])}  {event['type']:<21}{step} {event['message']}")
            _print_stack(event["error"], shown, indent="    ")
    for stream in ("stdout", "stderr"):
        if args.only not in (None, stream):
            continue
        text = "".join(c["data"] for c in run["logs"] if c["stream"] == stream)
        if args.only is None:
            print(f"== {stream} ==")
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


def _clock(timestamp: float) -> str:
    millis = int(timestamp % 1 * 1000)
    return time.strftime("%H:%M:%S", time.localtime(timestamp)) + f".{millis:03d}"


def _print_stack(error: dict[str, str] | None, shown: set[str], *, indent: str) -> None:
    """An event's traceback, indented under it, once: the event's message says the rest."""
    if not error or not error["stack"] or error["stack"] in shown:
        return
    shown.add(error["stack"])
    print("\n".join(indent + line for line in error["stack"].rstrip().splitlines()))
