"""``tether deployment ...``: create (idempotent: what CI runs for a pull request), list and
delete branch deployments, through the GraphQL API."""

from __future__ import annotations

import argparse
import time
from typing import Any

FIELDS = "name kind branch commit createdAt lastActivityAt ttlSeconds"
CREATE = f"""mutation($name: String!, $branch: String, $commit: String, $from: String,
                      $ttlHours: Float) {{
  createDeployment(name: $name, branch: $branch, commit: $commit, from: $from,
                   ttlHours: $ttlHours) {{ {FIELDS} }} }}"""
LIST = f"{{ deployments {{ {FIELDS} }} }}"
DELETE = "mutation($name: String!) { deleteDeployment(name: $name) }"


def register(commands: Any) -> None:
    parser = commands.add_parser("deployment", help="create, list and delete branch "
                                                    "deployments")
    actions = parser.add_subparsers(dest="deployment_command", required=True,
                                    metavar="COMMAND")
    create = actions.add_parser(
        "create", help="create branch deployment NAME, or update it (idempotent)")
    create.add_argument("name", metavar="NAME",
                        help="1 to 63 lowercase letters, digits and dashes (e.g. pr-123)")
    create.add_argument("--branch", help="the branch it runs")
    create.add_argument("--commit", help="the commit it runs")
    create.add_argument("--from", dest="source", metavar="DEPLOYMENT",
                        help="copy this deployment's code locations (the agent serving the "
                        "new one deploys them)")
    create.add_argument("--ttl-hours", type=float,
                        help="remove it this long after its last activity")
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="the deployments, with their branch, commit "
                                              "and age")
    listing.set_defaults(handler=_list)
    delete = actions.add_parser("delete", help="delete branch deployment NAME and all of "
                                               "its runs, locations and tokens")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(handler=_delete)


def _execute(document: str, **variables: Any) -> tuple[dict[str, Any], str]:
    """The answer's data, and the control plane's URL."""
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        return client.execute(document, **variables), client.base_url
    finally:
        client.close()


def _create(args: argparse.Namespace) -> int:
    data, url = _execute(CREATE, name=args.name, branch=args.branch, commit=args.commit,
                         ttlHours=args.ttl_hours, **{"from": args.source})
    deployment = data["createDeployment"]
    print(f"deployment {deployment['name']} ({_describe(deployment)})")
    print(f"{url}/runs — pick {deployment['name']} in the header's deployment switcher; "
          f"the CLI: TETHER_DEPLOYMENT={deployment['name']} or --deployment "
          f"{deployment['name']}")
    return 0


def _list(args: argparse.Namespace) -> int:
    data, _ = _execute(LIST)
    now = time.time()
    for deployment in data["deployments"]:
        age = _age(now - deployment["createdAt"])
        print(f"{deployment['name']:<24} {deployment['kind']:<7} {_describe(deployment)}, "
              f"created {age} ago")
    return 0


def _delete(args: argparse.Namespace) -> int:
    data, _ = _execute(DELETE, name=args.name)
    print(f"deleted deployment {args.name} ({data['deleteDeployment']} rows)")
    return 0


def _describe(deployment: dict[str, Any]) -> str:
    parts = [f"branch {deployment['branch']}" if deployment.get("branch") else "no branch"]
    if deployment.get("commit"):
        parts.append(f"commit {deployment['commit'][:12]}")
    if deployment.get("ttlSeconds"):
        parts.append(f"removed {_age(deployment['ttlSeconds'])} after its last activity")
    return ", ".join(parts)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(0.0, seconds):.0f}s"
