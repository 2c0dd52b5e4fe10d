"""Per-request counts: one request at a time through a local cloud, until the hub is quiet again.

Each count is one request's work and nothing else's: the bench waits until the local cloud is quiet
(`agenthub.local.activity`: no message in a subscriber's queue, no poller holding a batch, no
invocation or execution running) before it takes the counters and sends the next request.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agenthub.bench.counting import RequestCounter, SnsDeliveryCounter
from agenthub.bench.e2e import CatalogWatch, LoadFailed, bench_client, emulator_of, submit
from agenthub.client import HubClient
from agenthub.local.activity import NotQuiet
from agenthub.local.cloud import LocalCloud

QUIET_TIMEOUT_SECONDS = 60


@dataclass
class Counts:
    """What one request made the local cloud do."""

    requests: Counter[str]  # AWS requests by service.operation
    sns_to_sqs_deliveries: int
    invocations: dict[str, int]  # Lambda invocations by function logical id
    billed_ms: dict[str, int]  # their durations rounded up to 1 ms, added up
    task_invocations: dict[str, int]  # of those, the ones Step Functions made, by logical id
    log_bytes: int  # what the functions wrote to their logs
    state_transitions: int = 0
    standard_transitions: int = 0
    executions: Counter[str] = field(default_factory=Counter)  # by state machine type
    express_billed_seconds: float = 0.0  # each Express execution rounded up to 100 ms, added up
    task_states: Counter[str] = field(default_factory=Counter)  # Task states by resource type
    api_requests: int = 1


class Executions:
    """The stack's state machines, their executions and their histories, read with bench clients."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self._sfn = bench_client(endpoint_url, region, "stepfunctions")
        self.state_machines = {
            machine["stateMachineArn"]: machine["type"]
            for machine in self._sfn.list_state_machines()["stateMachines"]
        }

    def executions(self) -> set[str]:
        return {
            execution["executionArn"]
            for arn in self.state_machines
            for execution in self._sfn.get_paginator("list_executions")
            .paginate(stateMachineArn=arn)
            .build_full_result()["executions"]
        }

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = (
            self._sfn.get_paginator("get_execution_history")
            .paginate(executionArn=execution_arn)
            .build_full_result()["events"]
        )
        return events


# Lambda's own lines for each invocation, which the local cloud writes as Lambda's text format does.
PLATFORM_LINES = (b"START RequestId: ", b"END RequestId: ", b"REPORT RequestId: ")


def platform_lines_sent(properties: dict[str, Any]) -> bool:
    """Whether Lambda sends its start and report lines to CloudWatch: at the INFO system log
    level (the default), not at WARN, which the template sets for JSON logs
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html)."""
    logging = properties.get("LoggingConfig") or {}
    return str(logging.get("SystemLogLevel", "INFO")).upper() in ("DEBUG", "INFO")


def ingested_log_bytes(path: Path, platform_logged: bool) -> int:
    """What CloudWatch Logs would ingest of a function's log file."""
    if platform_logged:
        return path.stat().st_size
    with path.open("rb") as lines:
        return sum(len(line) for line in lines if not line.startswith(PLATFORM_LINES))


@dataclass
class _Snapshot:
    requests: Counter[str]
    invoked: Counter[str]
    deliveries: int
    invocations: dict[str, int]
    billed_ms: dict[str, int]
    log_bytes: int
    executions: set[str]


def _changed(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


class RequestCounts:
    def __init__(self, cloud: LocalCloud, counter: RequestCounter, deliveries: SnsDeliveryCounter) -> None:
        if cloud.stack is None or cloud.functions is None:
            raise LoadFailed("the local cloud is not running")
        self._counter = counter
        self._deliveries = deliveries
        self._pools = {
            logical_id: cloud.functions.pool(spec.name) for logical_id, spec in cloud.stack.functions.items()
        }
        self._logical_ids = {spec.name: logical_id for logical_id, spec in cloud.stack.functions.items()}
        self._cloud = cloud
        self._logs = cloud.config.state_dir / "logs"
        self._platform_logged = {
            logical_id: platform_lines_sent(cloud.stack.properties.get(logical_id, {}))
            for logical_id in cloud.stack.functions
        }
        endpoint_url, region = emulator_of(cloud)
        self._executions = Executions(endpoint_url, region)
        self._watch = CatalogWatch(endpoint_url, region, cloud.stack.ref("CatalogTable"), cloud)

    def _log_bytes(self) -> int:
        return sum(
            ingested_log_bytes(path, self._platform_logged.get(path.stem, True))
            for path in self._logs.glob("*.log")
            if path.stem in self._pools
        )

    def _snapshot(self) -> _Snapshot:
        requests, invoked = self._counter.snapshot()
        return _Snapshot(
            requests,
            Counter({self._logical_ids.get(name, name): count for name, count in invoked.items()}),
            self._deliveries.deliveries,
            {name: pool.invocations for name, pool in self._pools.items()},
            {name: pool.billed_ms for name, pool in self._pools.items()},
            self._log_bytes(),
            self._executions.executions(),
        )

    def of_one(self, client: HubClient, kind: str, body: dict[str, Any]) -> Counts:
        try:
            self._cloud.wait_quiet(QUIET_TIMEOUT_SECONDS)
        except NotQuiet as error:
            raise LoadFailed(f"the hub was busy before the {kind} request: {error}") from error
        before = self._snapshot()
        sent = submit(client, kind, body)
        if not self._watch.wait([sent], timeout=120):
            pending = self._watch.last_activity.describe() if self._watch.last_activity else "unknown"
            raise LoadFailed(
                f"the {kind} request {sent.request_id} did not end within 120 s "
                f"(catalog status {sent.status or 'not terminal'}; pending: {pending})"
            )
        if sent.status != "SUCCEEDED":  # the counts of a failed request are not the pipeline's
            raise LoadFailed(f"the {kind} request {sent.request_id} ended {sent.status}")
        after = self._snapshot()
        invocations = _changed(after.invocations, before.invocations)
        counts = Counts(
            requests=after.requests - before.requests,
            sns_to_sqs_deliveries=after.deliveries - before.deliveries,
            invocations=invocations,
            billed_ms={name: after.billed_ms[name] - before.billed_ms[name] for name in invocations},
            task_invocations=dict(after.invoked - before.invoked),
            log_bytes=after.log_bytes - before.log_bytes,
        )
        for arn in sorted(after.executions - before.executions):
            self._add_execution(counts, arn)
        return counts

    def _add_execution(self, counts: Counts, execution_arn: str) -> None:
        machine = execution_arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
        kind = self._executions.state_machines.get(machine, "STANDARD")
        counts.executions[kind] = counts.executions.get(kind, 0) + 1
        events = self._executions.history(execution_arn)
        transitions = sum(1 for event in events if event["type"].endswith("StateEntered"))
        counts.state_transitions += transitions
        if kind == "STANDARD":
            counts.standard_transitions += transitions
        for event in events:
            if event["type"] == "TaskScheduled":
                counts.task_states[event["taskScheduledEventDetails"]["resourceType"]] += 1
        if kind == "EXPRESS" and events:
            seconds = (events[-1]["timestamp"] - events[0]["timestamp"]).total_seconds()
            counts.express_billed_seconds += math.ceil(seconds * 10) / 10


def watch_requests(cloud: LocalCloud) -> tuple[RequestCounter, SnsDeliveryCounter]:
    """Installs the counters on a started local cloud."""
    if cloud.emulator is None:
        raise LoadFailed("the local cloud is not running")
    counter, deliveries = RequestCounter(), SnsDeliveryCounter()
    cloud.emulator.add_middleware(counter.middleware)
    deliveries.install()
    return counter, deliveries
