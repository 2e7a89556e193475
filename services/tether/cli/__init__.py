"""The ``tether`` command. Each sub-command module registers its parser and imports what it
needs only when it runs, so ``tether api execute-run`` stays light."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..errors import TetherError
from . import (
    _agent,
    _alert,
    _automation,
    _backfill,
    _deployment,
    _dev,
    _location,
    _login,
    _partitions,
    _run,
    _services,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tether", description="Tether: an open hybrid orchestrator for data pipelines."
    )
    parser.add_argument("--deployment", metavar="NAME",
                        help="the deployment the command works in (default: "
                        "TETHER_DEPLOYMENT, else prod)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (_dev, _login, _run, _location, _automation, _partitions, _backfill,
                   _alert, _deployment, _agent, _services):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.deployment:
        # the handlers build their settings from the environment: the flag is its
        # TETHER_DEPLOYMENT, for this process and the ones it starts
        os.environ["TETHER_DEPLOYMENT"] = args.deployment
    try:
        code = args.handler(args)
    except TetherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code or 0)
