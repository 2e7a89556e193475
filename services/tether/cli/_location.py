"""``tether location list|deploy|redeploy|remove``: code locations, deployable from CI.

``deploy --wait`` and ``redeploy --wait`` block until the agent has loaded the new code and
exit 1 with the user's load error when it failed, so a CI job fails on code that cannot load.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..wire import LocationSpec
    from ._graphql import GraphQLClient

_FIELDS = "name status error nextRetryAt updatedAt generation jobs { name } assets { key }"
LOCATIONS = f"{{ codeLocations {{ {_FIELDS} }} }}"
LOCATION = f"query Location($name: String!) {{ codeLocation(name: $name) {{ {_FIELDS} }} }}"
DEPLOY = f"""mutation Deploy($location: LocationInput!) {{
  deployLocation(location: $location) {{ {_FIELDS} }}
}}"""
REDEPLOY = f"""mutation Redeploy($name: String!) {{
  redeployLocation(name: $name) {{ {_FIELDS} }}
}}"""
REMOVE = "mutation Remove($name: String!) { removeLocation(name: $name) { name } }"


def register(commands: Any) -> None:
    location = commands.add_parser("location", help="deploy and see the code locations")
    actions = location.add_subparsers(dest="location_command", required=True,
                                      metavar="COMMAND")
    listing = actions.add_parser("list", help="status of each code location, with load errors")
    listing.set_defaults(handler=_list)

    deploy = actions.add_parser(
        "deploy", help="deploy a code location, or load it again (idempotent; for CI)",
        description="Deploy a code location from flags, or the locations of a workspace.toml "
        "(--file). Relative paths are resolved against the current directory; give the "
        "paths as the agent's host sees them.")
    deploy.add_argument("name", nargs="?", help="the location's name (with --file: deploy "
                        "only this location of the file)")
    deploy.add_argument("--file", "-f", help="a workspace.toml naming the location(s)")
    source = deploy.add_mutually_exclusive_group()
    source.add_argument("--module", "-m", help="the module defining `defs`, e.g. pkg.defs")
    source.add_argument("--python-file", help="the Python file defining `defs`")
    deploy.add_argument("--working-directory", "-d", help="where the code is (default: .)")
    deploy.add_argument("--python", help="the interpreter of the location's virtualenv")
    deploy.add_argument("--attribute", default="defs", help="the Definitions' name "
                        "(default: defs)")
    deploy.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable of its code server and runs "
                        "(repeatable)")
    deploy.add_argument("--queue", default="default", help="the agent queue that serves it")
    deploy.add_argument("--image", help="the container image its code server and runs use "
                        "(Docker or Kubernetes agents); paths are then the image's")
    deploy.add_argument("--agent-kind", choices=("process", "docker", "kubernetes"),
                        help="run it on this kind of agent instead of the agent's "
                        "TETHER_AGENT_KIND")
    _add_wait(deploy)
    deploy.set_defaults(handler=_deploy)

    redeploy = actions.add_parser("redeploy", help="load a location's code again")
    redeploy.add_argument("name")
    _add_wait(redeploy)
    redeploy.set_defaults(handler=_redeploy)

    remove = actions.add_parser("remove", help="remove a location; its code server stops")
    remove.add_argument("name")
    remove.set_defaults(handler=_remove)


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true",
                        help="wait until it is LOADED; exit 1 with the load error on ERROR")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="with --wait: give up after this many seconds (default 300)")


def specs_from_args(args: argparse.Namespace, cwd: Path) -> list[LocationSpec]:
    """The location specs ``deploy`` was asked for, with relative paths made absolute."""
    from ..wire import LocationSpec
    from ..workspace import load_workspace, resolve_paths

    if args.file:
        if args.module or args.python_file:
            raise ConfigError("pass either --file or --module/--python-file, not both")
        specs = load_workspace(cwd / args.file)
        if args.name:
            specs = [spec for spec in specs if spec.name == args.name]
            if not specs:
                raise ConfigError(f"{args.file} has no location named {args.name!r}")
        return specs
    if not args.name:
        raise ConfigError("name the location: `tether location deploy NAME --module ...`, "
                          "or pass --file workspace.toml")
    if not (args.module or args.python_file):
        raise ConfigError(f"location {args.name!r}: pass --module or --python-file")
    env = {}
    for pair in args.env:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--env {pair!r}: write NAME=VALUE")
        env[key] = value
    spec = LocationSpec(name=args.name, module=args.module, python_file=args.python_file,
                        working_directory=args.working_directory, python=args.python,
                        attribute=args.attribute, env=env, queue=args.queue,
                        image=args.image, agent_kind=args.agent_kind)
    return [resolve_paths(spec, cwd)]


def _input(spec: LocationSpec) -> dict[str, Any]:
    return {"name": spec.name, "module": spec.module, "pythonFile": spec.python_file,
            "workingDirectory": spec.working_directory, "python": spec.python,
            "attribute": spec.attribute, "env": spec.env, "queue": spec.queue,
            "image": spec.image, "agentKind": spec.agent_kind}


def _deploy(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    specs = specs_from_args(args, Path.cwd())
    client = graphql_client()
    try:
        deployed = [client.execute(DEPLOY, location=_input(spec))["deployLocation"]
                    for spec in specs]
        for location in deployed:
            print(f"Deployed code location {location['name']} ({location['status']})")
        if not args.wait:
            return 0
        results = [_wait(client, location, args.timeout) for location in deployed]
        return max(results)
    finally:
        client.close()


def _redeploy(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        location = client.execute(REDEPLOY, name=args.name)["redeployLocation"]
        print(f"Redeploying code location {location['name']} ({location['status']})")
        return _wait(client, location, args.timeout) if args.wait else 0
    finally:
        client.close()


def _remove(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        client.execute(REMOVE, name=args.name)
    finally:
        client.close()
    print(f"Removed code location {args.name}; its code server stops")
    return 0


def _wait(client: GraphQLClient, deployed: dict[str, Any], timeout: float) -> int:
    """Poll the location until the deploy ``deployed`` names has loaded or failed."""
    name, generation = deployed["name"], deployed["generation"]
    started = time.monotonic()
    while True:
        location = client.execute(LOCATION, name=name)["codeLocation"]
        if location is None:
            print(f"code location {name} was removed while loading", file=sys.stderr)
            return 1
        if location["generation"] > generation:
            print(f"code location {name} was deployed again meanwhile; waiting for that deploy")
            generation = location["generation"]
        elif location["status"] != "LOADING":
            break
        if time.monotonic() - started > timeout:
            print(f"code location {name} is still LOADING after {timeout:g} s: is an agent "
                  f"serving its queue running? (`tether agent list`)", file=sys.stderr)
            return 1
        time.sleep(0.05)
    took = time.monotonic() - started
    if location["status"] == "LOADED":
        print(f"Code location {name} LOADED in {took:.2f} s: {len(location['jobs'])} job(s), "
              f"{len(location['assets'])} asset(s)")
        return 0
    print(f"Code location {name} failed to load (ERROR):", file=sys.stderr)
    print((location["error"] or "").rstrip(), file=sys.stderr)
    if location["nextRetryAt"]:
        print(retry_note(location["nextRetryAt"], time.time()), file=sys.stderr)
    return 1


def _list(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        locations = client.execute(LOCATIONS)["codeLocations"]
    finally:
        client.close()
    if not locations:
        print("no code locations")
        return 0
    for location in locations:
        jobs = ", ".join(job["name"] for job in location["jobs"]) or "-"
        print(f"{location['name']:<20} {location['status']:<8} jobs: {jobs}; "
              f"assets: {len(location['assets'])}")
        if location["status"] == "ERROR" and location["nextRetryAt"]:
            print(f"    {retry_note(location['nextRetryAt'], time.time())}")
        if location["error"]:
            print("\n".join("    " + line for line in location["error"].rstrip().splitlines()))
    return 0 if all(loc["status"] != "ERROR" for loc in locations) else 1


def retry_note(next_retry_at: float, now: float) -> str:
    """When the agent loads a failed location again, as the CLI says it."""
    if next_retry_at <= now:
        return "the agent is loading it again"
    at = time.strftime("%H:%M:%S", time.localtime(next_retry_at))
    return (f"next retry at {at} (in {next_retry_at - now:.0f} s), or as soon as its files "
            "change")
