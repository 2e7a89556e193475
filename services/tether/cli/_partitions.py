"""``tether partitions ...``: list, add and delete the keys of dynamic partitions."""

from __future__ import annotations

import argparse
from typing import Any

LIST = """query($name: String!) { dynamicPartitions(name: $name) }"""
ADD = """mutation($name: String!, $keys: [String!]!) {
  addDynamicPartitions(name: $name, keys: $keys) }"""
DELETE = """mutation($name: String!, $keys: [String!]!) {
  deleteDynamicPartitions(name: $name, keys: $keys) }"""


def register(commands: Any) -> None:
    parser = commands.add_parser("partitions", help="list, add and delete dynamic partitions' "
                                                    "keys")
    actions = parser.add_subparsers(dest="partitions_command", required=True,
                                    metavar="COMMAND")
    listing = actions.add_parser("list", help="the keys of DynamicPartitionsDefinition(NAME)")
    listing.add_argument("name")
    listing.set_defaults(handler=_list)
    for action, handler in (("add", _add), ("delete", _delete)):
        change = actions.add_parser(action, help=f"{action} keys of dynamic partitions NAME")
        change.add_argument("name")
        change.add_argument("keys", nargs="+", metavar="KEY")
        change.set_defaults(handler=handler)


def _execute(document: str, **variables: Any) -> dict[str, Any]:
    from ._graphql import execute

    return execute(document, **variables)


def _list(args: argparse.Namespace) -> int:
    keys = _execute(LIST, name=args.name)["dynamicPartitions"]
    if not keys:
        print(f"dynamic partitions {args.name!r} have no keys yet")
    for key in keys:
        print(key)
    return 0


def _add(args: argparse.Namespace) -> int:
    added = _execute(ADD, name=args.name, keys=args.keys)["addDynamicPartitions"]
    print(f"added {len(added)} key(s) to {args.name}" +
          (f": {', '.join(added)}" if added else " (all were there already)"))
    return 0


def _delete(args: argparse.Namespace) -> int:
    deleted = _execute(DELETE, name=args.name, keys=args.keys)["deleteDynamicPartitions"]
    print(f"deleted {deleted} key(s) from {args.name}")
    return 0
