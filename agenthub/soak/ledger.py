"""The soak's ledger: every 202 it got, and the report of what became of each once work has drained.

Pure functions over what was sent (`Accepted`) and what the local cloud holds at the end
(`Observed`), so the arithmetic that decides the exit status is tested on its own.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agenthub.soak.plan import Expect, PlannedRequest

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass
class Accepted:
    """A logical request the hub answered 202: one key of one caller, however often it was sent."""

    planned: PlannedRequest
    request_id: str
    subject: str
    accepted_at: float  # epoch seconds of its first 202
    request_ids: set[str] = field(default_factory=set)  # every id a 202 for this key carried
    sends: int = 1


@dataclass(frozen=True)
class Final:
    status: str
    terminal_at: float | None  # epoch seconds of the event that made it terminal
    error: Any = None  # the request's error, as its catalog row records it


@dataclass
class Observed:
    """What the local cloud holds once work has drained."""

    finals: dict[str, Final]  # by request id, from the catalog
    catalog_rows: Counter[str]  # rows per logical request (by marker); "" counts rows of none sent
    memory_turns: Counter[str]  # agent-memory turns per request id
    express_runs: Counter[str]  # Express runs that did the work, per state machine and request
    # request ids with a message in a dead-letter queue the sweeper reads (it fails them)
    dead_lettered: set[str]
    dlq_messages: int
    dead_letters: Counter[str]  # DLQ messages by "<subscriber>: <event type>"
    faults_injected: dict[str, int]  # faults that struck, by kind (a rule hit at least once, an act done)
    standard_runs: Counter[str] = field(default_factory=Counter)  # Standard runs (agents, customizations)
    tool_calls: Counter[str] = field(default_factory=Counter)  # agents' calls by "<tool>: <how it ended>"


UNEXPECTED_SHOWN = 10


def _unexpected(entry: Accepted, final: Final) -> dict[str, Any]:
    fault = entry.planned.fault
    return {
        "request_id": entry.request_id,
        "status": final.status,
        "planned_fault": fault.kind if fault else None,
        "error": final.error,
    }


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (0 < share <= 1), or None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 3)


def report(
    accepted: list[Accepted],
    observed: Observed,
    *,
    wall_seconds: float,
    refused: int,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The soak's one JSON object. `ok` (and the exit status) needs no lost request, no unexpected
    failure and nothing done twice."""
    outcome: Counter[str] = Counter()
    to_terminal: list[float] = []
    unexpected: list[dict[str, Any]] = []  # what a failed soak needs to be looked into
    for entry in accepted:
        final = observed.finals.get(entry.request_id)
        expect = entry.planned.expect
        if entry.request_id in observed.dead_lettered:
            outcome["dead_lettered"] += 1
            outcome["dead_lettered_unplanned"] += expect is not Expect.DEAD_LETTERED
        if final is None or final.status not in TERMINAL:
            # Dead-lettered or not: the sweeper ends every request the hub could not carry, so one
            # still open once work has drained and the sweeper has run is lost.
            outcome["lost"] += 1
            continue
        if final.terminal_at is not None:
            to_terminal.append(max(0.0, final.terminal_at - entry.accepted_at))
        if final.status == "SUCCEEDED":
            outcome["succeeded"] += 1
            # A fault planned to outlast the retries that did not: the plan's model of the
            # retries is off (worth a look), but nothing was lost or done twice.
            outcome["planned_failure_succeeded"] += expect in (Expect.FAILED, Expect.DEAD_LETTERED)
        elif final.status == "FAILED":
            # A planned dead letter ends FAILED by the sweeper (DeadLettered), as the plan expects.
            planned = expect in (Expect.FAILED, Expect.DEAD_LETTERED)
            outcome["failed_expected" if planned else "failed_unexpected"] += 1
            if not planned:
                unexpected.append(_unexpected(entry, final))
        else:
            outcome["cancelled"] += 1
            outcome["failed_unexpected"] += expect is not Expect.CANCELLED
            if expect is not Expect.CANCELLED:
                unexpected.append(_unexpected(entry, final))
    # A catalog row of no request the soak sent (marker "") is a duplicate as much as a second row
    # for one it did.
    stray_rows = observed.catalog_rows.get("", 0)
    repeated_rows = sum(count - 1 for marker, count in observed.catalog_rows.items() if marker and count > 1)
    runs = observed.express_runs + observed.standard_runs
    duplicates = {
        "duplicate_acceptances": sum(len(entry.request_ids) > 1 for entry in accepted),
        "duplicate_executions": sum(count - 1 for count in runs.values() if count > 1),
        "duplicate_catalog_rows": stray_rows + repeated_rows,
        "duplicate_memory_turns": sum(count - 1 for count in observed.memory_turns.values() if count > 1),
    }
    planned_faults = Counter(entry.planned.fault.kind for entry in accepted if entry.planned.fault)
    ok = outcome["lost"] == 0 and outcome["failed_unexpected"] == 0 and not any(duplicates.values())
    return {
        "ok": ok,
        "accepted": len(accepted),
        "succeeded": outcome["succeeded"],
        "failed_expected": outcome["failed_expected"],
        "failed_unexpected": outcome["failed_unexpected"],
        "cancelled": outcome["cancelled"],
        "lost": outcome["lost"],
        # The first unexpected failures: each request's id, status, planned fault and error.
        "unexpected": unexpected[:UNEXPECTED_SHOWN],
        # Requests with a message in a dead-letter queue the sweeper reads (it failed them, unless
        # their pipeline still ended them); `dead_lettered_unplanned` are those no planned fault
        # meant to dead-letter (a batch that failed with another request's message in it, once too
        # often). A tool's call in its dead-letter queue is only in `dlq_messages_by_subscriber`.
        "dead_lettered": outcome["dead_lettered"],
        "dead_lettered_unplanned": outcome["dead_lettered_unplanned"],
        "planned_failure_succeeded": outcome["planned_failure_succeeded"],
        **duplicates,
        "duplicate_execution_names": sorted(name for name, count in runs.items() if count > 1),
        "dlq_messages": observed.dlq_messages,
        # Where they are: a dead-lettered core-writer message of a request that still ended is an
        # event missing from its history, not a lost request.
        "dlq_messages_by_subscriber": dict(sorted(observed.dead_letters.items())),
        "refused": refused,
        "faults_injected": dict(sorted(observed.faults_injected.items())),
        "faults_planned": dict(sorted(planned_faults.items())),
        # The measures above are not vacuous: how many executions and memory turns there were, and
        # the agents' tool calls by how they ended (a tool crashed or too slow: "timed out").
        "express_executions": len(observed.express_runs),
        "standard_executions": len(observed.standard_runs),
        "memory_turns": sum(observed.memory_turns.values()),
        "tool_calls": dict(sorted(observed.tool_calls.items())),
        "wall_seconds": round(wall_seconds, 1),
        "p50": percentile(to_terminal, 0.5),
        "p95": percentile(to_terminal, 0.95),
        "raced_sends": sum(entry.planned.race for entry in accepted),
        "settings": settings,
    }
