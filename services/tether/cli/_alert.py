"""``tether alert ...``: create, list, delete and test alert policies, and see how their
alerts were delivered (through the GraphQL API, with an admin token)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

POLICY_FIELDS = """id name description triggers filters channelKind channel longRunMinutes
  enabled source"""
POLICIES = f"{{ alertPolicies {{ {POLICY_FIELDS} }} }}"
CREATE = f"""mutation($policy: JSON!) {{ createAlertPolicy(policy: $policy) {{
  {POLICY_FIELDS} }} }}"""
DELETE = "mutation($name: String!) { deleteAlertPolicy(name: $name) { name } }"
TEST = "mutation($name: String!) { testAlertPolicy(name: $name) { id } }"
DELIVERY_FIELDS = """id policy trigger title status attempts nextAttemptAt lastError createdAt
  sentAt test"""
DELIVERIES = f"""query($limit: Int, $policy: String, $status: String) {{
  alertDeliveries(limit: $limit, policy: $policy, status: $status) {{ {DELIVERY_FIELDS} }} }}"""
TRIGGERS = ("RUN_FAILURE", "RUN_SUCCESS", "RUN_LONG", "LOCATION_LOAD_FAILED", "AGENT_LOST",
            "TICK_FAILURE", "ASSET_CHECK_FAILED")


def register(commands: Any) -> None:
    parser = commands.add_parser("alert", help="alert policies: create, list, delete, test; "
                                              "their deliveries")
    actions = parser.add_subparsers(dest="alert_command", required=True, metavar="COMMAND")
    create = actions.add_parser(
        "create", help="add an alert policy",
        description="Add an alert policy: which triggers, of which jobs, locations, tags or "
                    "asset groups, go to which channel.")
    create.add_argument("name")
    create.add_argument("--trigger", action="append", required=True, choices=TRIGGERS,
                        help="what to alert on (repeat for several)")
    create.add_argument("--channel", required=True,
                        choices=("webhook", "slack", "teams", "email", "pagerduty"))
    create.add_argument("--url", help="the webhook's URL (webhook, slack, teams; pagerduty: "
                                      "the Events API URL, by default PagerDuty's)")
    create.add_argument("--secret", help="webhook: the HMAC-SHA256 signing secret")
    create.add_argument("--routing-key", help="pagerduty: the integration's routing key")
    create.add_argument("--to", action="append", help="email: a recipient (repeat)")
    create.add_argument("--smtp-host")
    create.add_argument("--smtp-port", type=int)
    create.add_argument("--smtp-user")
    create.add_argument("--smtp-password")
    create.add_argument("--from-address")
    create.add_argument("--no-starttls", action="store_true",
                        help="email: send without STARTTLS (a local relay only)")
    create.add_argument("--job", action="append", default=[], help="only runs of this job")
    create.add_argument("--location", action="append", default=[],
                        help="only this code location")
    create.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                        help="only runs with this tag")
    create.add_argument("--asset-group", action="append", default=[],
                        help="only runs and checks of assets in this group")
    create.add_argument("--long-run-minutes", type=float,
                        help="RUN_LONG: alert when a run has been going this long")
    create.add_argument("--description", default="")
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="every alert policy")
    listing.set_defaults(handler=_list)
    delete = actions.add_parser("delete", help="delete an alert policy")
    delete.add_argument("name")
    delete.set_defaults(handler=_delete)
    test = actions.add_parser("test", help="send a sample alert through a policy's channel "
                                           "and wait to see how it went")
    test.add_argument("name")
    test.add_argument("--timeout", type=float, default=30.0)
    test.set_defaults(handler=_test)
    deliveries = actions.add_parser("deliveries", help="the newest alerts and how sending "
                                                       "them went")
    deliveries.add_argument("--policy")
    deliveries.add_argument("--status", choices=("PENDING", "SENT", "FAILED"))
    deliveries.add_argument("--limit", type=int, default=20)
    deliveries.set_defaults(handler=_deliveries)


def policy_of(args: argparse.Namespace) -> dict[str, Any]:
    """The createAlertPolicy input the options describe (the API checks it)."""
    from ..errors import ConfigError

    channel: dict[str, Any] = {"kind": args.channel}
    for option, key in (("url", "url"), ("secret", "secret"), ("routing_key", "routing_key"),
                        ("to", "to"), ("smtp_host", "smtp_host"), ("smtp_port", "smtp_port"),
                        ("smtp_user", "username"), ("smtp_password", "password"),
                        ("from_address", "from_address")):
        if getattr(args, option) is not None:
            channel[key] = getattr(args, option)
    if args.no_starttls:
        channel["starttls"] = False
    tags = {}
    for pair in args.tag:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--tag {pair!r}: write KEY=VALUE")
        tags[key] = value
    policy: dict[str, Any] = {
        "name": args.name, "triggers": args.trigger, "channel": channel,
        "description": args.description,
        "filters": {"jobs": args.job, "locations": args.location, "tags": tags,
                    "asset_groups": args.asset_group}}
    if args.long_run_minutes is not None:
        policy["long_run_minutes"] = args.long_run_minutes
    return policy


def _create(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        created = client.execute(CREATE, policy=policy_of(args))["createAlertPolicy"]
    finally:
        client.close()
    print(f"alert policy {created['name']} created: {_summary(created)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        policies = client.execute(POLICIES)["alertPolicies"]
    finally:
        client.close()
    if not policies:
        print("no alert policies: `tether alert create NAME --trigger RUN_FAILURE "
              "--channel slack --url ...`")
    for policy in policies:
        state = "" if policy["enabled"] else " (disabled)"
        print(f"{policy['name']:<24} {_summary(policy)} [{policy['source']}]{state}")
    return 0


def _summary(policy: dict[str, Any]) -> str:
    filters = {key: value for key, value in policy["filters"].items() if value}
    where = policy["channel"].get("url") or ", ".join(policy["channel"].get("to", []))
    scope = f" for {json.dumps(filters)}" if filters else ""
    return f"{', '.join(policy['triggers'])}{scope} -> {policy['channelKind']} {where}".rstrip()


def _delete(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        client.execute(DELETE, name=args.name)
    finally:
        client.close()
    print(f"alert policy {args.name} deleted")
    return 0


def _test(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        delivery_id = client.execute(TEST, name=args.name)["testAlertPolicy"]["id"]
        print(f"sample alert {delivery_id} queued; the alert daemon sends it ...")
        deadline = time.monotonic() + args.timeout
        while True:
            found = [d for d in client.execute(DELIVERIES, limit=50, policy=args.name)[
                "alertDeliveries"] if d["id"] == delivery_id]
            delivery = found[0] if found else None
            if delivery is not None and delivery["status"] == "SENT":
                print(f"sent through policy {args.name}")
                return 0
            if delivery is not None and delivery["attempts"] > 0:
                print(f"not sent: {delivery['lastError']}")
                return 1
            if time.monotonic() > deadline:
                print(f"not sent within {args.timeout:g} s: are the daemons running "
                      "(`tether control-plane daemons`)?")
                return 1
            time.sleep(0.5)
    finally:
        client.close()


def _deliveries(args: argparse.Namespace) -> int:
    from ._graphql import graphql_client

    client = graphql_client()
    try:
        deliveries = client.execute(DELIVERIES, limit=args.limit, policy=args.policy,
                                    status=args.status)["alertDeliveries"]
    finally:
        client.close()
    if not deliveries:
        print("no alerts yet")
    for d in deliveries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d["createdAt"]))
        error = f"  ({d['lastError']})" if d["lastError"] and d["status"] != "SENT" else ""
        print(f"{when}  {d['status']:<8} {d['policy']:<20} {d['title']} "
              f"[{d['attempts']} attempt(s)]{error}")
    return 0
