"""Waiting in tests: for what happened, never for a length of time (agenthub.local.activity).

`wait_until` asks its predicate again whenever the local cloud's state changes (the activity counter
every part of it bumps) and at least every `OBSERVE_SECONDS` for what changes unannounced; it never
sleeps for a time. Its deadline is only the failure's: the error says what did not happen and what was
still pending then. A test that asserts something did NOT happen waits for quiet first (`Hub.quiet`,
`LocalCloud.wait_quiet`): then nothing is left that could still make it happen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from agenthub.local.activity import Waiter, Watch, wait_for

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    describe_pending: Callable[[], str] | None = None,
    *,
    what: str = "the awaited event",
    waiter: Waiter | None = None,
) -> T:
    """The first true value of `predicate`. `waiter` is the local cloud to watch (in this process or
    over its control API); without one, only this process's activity counter is (a function host, or
    moto's executions, run without a local cloud). At the deadline: `NeverHappened`, naming `what` and
    `describe_pending()` (or what the waiter had pending)."""
    return wait_for(waiter or Watch(), predicate, timeout, what, describe_pending)  # type: ignore[return-value]
