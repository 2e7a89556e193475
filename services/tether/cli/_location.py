"""``tether location list``."""

from __future__ import annotations

import argparse
from typing import Any

LOCATIONS = """
{ codeLocations { name status error updatedAt jobs { name } assets { key } } }
"""


def register(commands: Any) -> None:
    location = commands.add_parser("location", help="see the code locations")
    actions = location.add_subparsers(dest="location_command", required=True,
                                      metavar="COMMAND")
    listing = actions.add_parser("list", help="status of each code location, with load errors")
    listing.set_defaults(handler=_list)


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
        if location["error"]:
            print("\n".join("    " + line for line in location["error"].rstrip().splitlines()))
    return 0 if all(loc["status"] != "ERROR" for loc in locations) else 1
