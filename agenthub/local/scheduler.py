"""EventBridge schedules, run by the local cloud: moto keeps a rule and its targets but fires none.

Each enabled rule with a `rate(...)` schedule invokes its Lambda targets at that rate, with the
rule's constant `Input` or, without one, the event EventBridge sends for a schedule:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html
`cron(...)` schedules are reported and not run. Rules are read when the scheduler starts.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agenthub.local.stack import Stack

log = logging.getLogger("agenthub.local")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400}


@dataclass(frozen=True)
class Schedule:
    rule: str  # the rule's logical id, `Parent.Child` in a nested stack
    name: str
    arn: str
    period_seconds: float
    targets: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def period_of(expression: str) -> float | None:
    """Seconds between runs of a `rate(...)` expression; None for any other (a cron)."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).removesuffix("s")]


def schedules_of(stacks: Iterable[Stack]) -> list[Schedule]:
    found = []
    for stack in stacks:
        for part in stack.walk():
            for logical_id, deployed in part.of_type("AWS::Events::Rule").items():
                properties = part.properties[logical_id]
                expression = properties.get("ScheduleExpression")
                if not expression or properties.get("State", "ENABLED") != "ENABLED":
                    continue
                period = period_of(expression)
                if period is None:
                    log.warning("%s: the local cloud runs rate() schedules, not %s", logical_id, expression)
                    continue
                found.append(
                    Schedule(
                        logical_id,
                        deployed.ref,
                        str(deployed.attributes["Arn"]),
                        period,
                        tuple(properties.get("Targets", [])),
                    )
                )
    return found


def scheduled_event(schedule: Schedule, region: str, account_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [schedule.arn],
        "detail": {},
    }


class Scheduler:
    """Runs the schedules on one thread; `fire` runs one now (a test, or a developer who cannot wait)."""

    def __init__(
        self,
        schedules: list[Schedule],
        invoke: Callable[[str, bytes], Any],
        region: str,
        account_id: str,
    ) -> None:
        self.schedules = {schedule.rule: schedule for schedule in schedules}
        self._invoke = invoke
        self._region = region
        self._account_id = account_id
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def start(self) -> None:
        if self.schedules:
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def fire(self, rule: str) -> list[Any]:
        """Invokes the rule's Lambda targets now; their results."""
        schedule = self.schedules[rule]
        results = []
        for target in schedule.targets:
            if ":lambda:" not in str(target.get("Arn", "")):
                log.warning("%s: the local cloud invokes Lambda targets, not %s", rule, target.get("Arn"))
                continue
            event = scheduled_event(schedule, self._region, self._account_id)
            payload = target.get("Input") or json.dumps(event)
            results.append(self._invoke(str(target["Arn"]), payload.encode()))
        return results

    def _run(self) -> None:
        due = {rule: time.monotonic() + schedule.period_seconds for rule, schedule in self.schedules.items()}
        while not self._stopping.is_set():
            rule = min(due, key=due.__getitem__)
            if self._stopping.wait(max(0.0, due[rule] - time.monotonic())):
                return
            try:
                self.fire(rule)
            except Exception:  # a failed run is the function's to report; the schedule goes on
                log.exception("%s: its scheduled run failed", rule)
            due[rule] = time.monotonic() + self.schedules[rule].period_seconds
