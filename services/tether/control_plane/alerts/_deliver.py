"""The alert daemon's turn: look for overdue causes (long runs, silent agents), then send the
deliveries that are due, side by side, each retried with exponential backoff until it is
sent or its attempts run out.

Sending happens outside any transaction: a delivery is marked SENT after its channel took
it, so a daemon killed in between sends it again on its next turn (at least once; webhook
receivers can tell a repeat by the ``X-Tether-Delivery`` header).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._messages import link
from ._send import DeliveryFailed, send

if TYPE_CHECKING:
    from ..storage import Store

# deliveries sent per turn, and at once
BATCH = 50
SENDERS = 8
MAX_BACKOFF_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    # links in alerts start with it
    public_url: str
    # the first retry waits this long, each next one twice as long (up to an hour)
    retry_base_seconds: float = 5.0
    # a delivery failing this many times is given up (FAILED)
    max_attempts: int = 12
    timeout_seconds: float = 5.0


def backoff(attempts: int, base: float, jitter: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``attempts``-th failure: doubling from ``base``, capped,
    with up to 10 % jitter so that many retries do not fall due together."""
    delay = min(MAX_BACKOFF_SECONDS, base * 2.0 ** (attempts - 1))
    return delay * (1 + 0.1 * jitter())


def deliver_due(store: Store, config: DeliveryConfig, *, look_overdue: bool = True) -> str:
    """One turn; what it did, for the log ("" when nothing)."""
    raised = store.raise_overdue_alerts() if look_overdue else 0
    due = store.due_alert_deliveries(BATCH)
    if not due:
        return f"raised {raised} alert(s)" if raised else ""

    def attempt(index: int) -> str | None:
        delivery, policy = due[index]
        try:
            send(policy.channel, delivery.alert, link(config.public_url, delivery.alert),
                 delivery.id, timeout=config.timeout_seconds)
        except DeliveryFailed as exc:
            return str(exc)
        return None

    with ThreadPoolExecutor(max_workers=min(SENDERS, len(due))) as pool:
        errors = list(pool.map(attempt, range(len(due))))
    now = store.now()
    results = []
    for (delivery, _), error in zip(due, errors, strict=True):
        attempts = delivery.attempts + 1
        retry_at = (None if error is None or attempts >= config.max_attempts
                    else now + backoff(attempts, config.retry_base_seconds))
        results.append((delivery.id, error, retry_at))
    store.record_alert_attempts(results)
    sent = sum(error is None for error in errors)
    failed = [f"{delivery.policy_name}#{delivery.id}: {error}"
              for (delivery, _), error in zip(due, errors, strict=True) if error is not None]
    return "; ".join([f"raised {raised} alert(s)"] * bool(raised)
                     + [f"sent {sent} alert(s)"] * bool(sent)
                     + [f"{len(failed)} not sent, retried later: {', '.join(failed)}"]
                     * bool(failed))


__all__ = ["DeliveryConfig", "DeliveryFailed", "backoff", "deliver_due"]
