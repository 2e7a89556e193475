"""Answering an EvaluateTick: the location's code server runs the schedule's or sensor's
function. A code server that is being (re)started is waited for, up to the deadline, so a
tick that arrives during a restart is answered rather than failed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..codeserver import CodeServerClient
from ..errors import CodeServerError
from ..wire import ErrorInfo, EvaluateTick, TickEvaluated, TickOutcome

# a user's function that takes longer than this fails its tick (it is not killed)
TICK_TIMEOUT_SECONDS = 60.0


async def evaluate(item_id: str, epoch: int, tick: EvaluateTick,
                   client_of: Callable[[], CodeServerClient | None], *,
                   timeout: float = TICK_TIMEOUT_SECONDS, traceparent: str = ""
                   ) -> TickEvaluated:
    """The result answering work item ``item_id``: the tick's outcome, or why it could not
    be evaluated (said as the tick's error)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = f"code location {tick.location.name!r} has no code server on this agent"
    while True:
        client = client_of()
        remaining = deadline - loop.time()
        if client is not None and remaining > 0:
            try:
                outcome = await client.evaluate_tick(tick, timeout=remaining,
                                                     traceparent=traceparent)
                break
            except CodeServerError as exc:
                last = str(exc)
        if loop.time() >= deadline:
            outcome = TickOutcome(cursor=tick.cursor, error=ErrorInfo(
                class_name="CodeServerError",
                message=f"the {tick.kind} {tick.name!r} was not evaluated within "
                        f"{timeout:g} s: {last}"))
            break
        await asyncio.sleep(0.1)
    return TickEvaluated(work_id=item_id, epoch=epoch, tick_id=tick.tick_id, outcome=outcome)
