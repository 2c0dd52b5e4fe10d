"""Whole requests through a local cloud the bench starts: a mixed load, then one request at a time.

The mixed load sends 200 requests (100 preprocess, 80 invoke, 20 chained preprocess -> invoke)
from 8 client threads and times each from its 202 to the moment its catalog row turned terminal
(the row's `updated_at`, which the core writer sets when it applies the terminal event). The bench
watches the rows with batched reads straight from the emulator, marked so the counts leave them
out, rather than polling GET /v1/requests: 200 callers polling would be load of their own. Every
request's final status is then read through the API, as a caller sees it.

Per-request counts send one request at a time and wait until the hub is quiet again (every queue
empty, every execution ended), so each count is one request's work and nothing else's.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.config import Config

from agenthub import PROJECT_ROOT
from agenthub.bench.counting import BENCH_USER_AGENT, RequestCounter, SnsDeliveryCounter
from agenthub.bench.stats import percentile
from agenthub.client import TERMINAL, HubClient
from agenthub.local import LOCAL_ACCESS_KEY
from agenthub.local.cloud import LocalCloud

SAMPLES = PROJECT_ROOT / "events" / "front_door"
# The pipelines of the mixed load, their sample request and how many of each.
MIX = {"preprocess": ("post_request_preprocess.json", 100), "invoke": ("post_request_invoke.json", 80)}
MIX_CHAINED = ("chained", "post_request_chained.json", 20)
CLIENT_THREADS = 8
# Where the core writer keeps a request (functions/shared/catalog.py: request_key).
CATALOG_KEY = ("REQUEST#{request_id}", "REQUEST")
SETTLE_SECONDS = 0.5


class LoadFailed(RuntimeError):
    pass


def sample_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.loads((SAMPLES / name).read_text())["body"])
    return body


def mixed_requests(seed: int = 10) -> list[tuple[str, dict[str, Any]]]:
    """The 200 requests, (kind, body), in a fixed shuffled order."""
    kinds = [(kind, name, count) for kind, (name, count) in MIX.items()] + [MIX_CHAINED]
    requests = [(kind, sample_body(name)) for kind, name, count in kinds for _ in range(count)]
    random.Random(seed).shuffle(requests)
    return requests


def bench_client(cloud: LocalCloud, service: str) -> Any:
    """An emulator client whose requests the counts leave out."""
    import boto3

    emulator = cloud.emulator
    if emulator is None:
        raise LoadFailed("the local cloud is not running")
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=emulator.region,
        endpoint_url=emulator.url,
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_ACCESS_KEY,
        config=Config(user_agent_extra=BENCH_USER_AGENT, retries={"mode": "standard"}),
    )


@dataclass
class Sent:
    kind: str
    request_id: str
    accepted_at: float  # wall clock, as the catalog's timestamps are
    terminal_at: float | None = None
    status: str = ""


class CatalogWatch:
    """Terminal moments of requests, read from the catalog in batches of 100."""

    def __init__(self, cloud: LocalCloud) -> None:
        if cloud.stack is None:
            raise LoadFailed("the local cloud is not running")
        self._table = cloud.stack.ref("CatalogTable")
        self._dynamodb = bench_client(cloud, "dynamodb")

    def poll(self, pending: list[Sent]) -> None:
        for start in range(0, len(pending), 100):
            batch = {sent.request_id: sent for sent in pending[start : start + 100]}
            keys = [
                {"pk": {"S": CATALOG_KEY[0].format(request_id=rid)}, "sk": {"S": CATALOG_KEY[1]}} for rid in batch
            ]
            answer = self._dynamodb.batch_get_item(RequestItems={self._table: {"Keys": keys}})
            for item in answer["Responses"].get(self._table, []):
                sent = batch[item["request_id"]["S"]]
                if item["status"]["S"] in TERMINAL:
                    sent.status = item["status"]["S"]
                    sent.terminal_at = datetime.fromisoformat(item["updated_at"]["S"]).timestamp()

    def wait(self, sent: list[Sent], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while pending := [item for item in sent if item.terminal_at is None]:
            if time.monotonic() > deadline:
                raise LoadFailed(f"{len(pending)} request(s) not terminal after {timeout:.0f}s")
            self.poll(pending)
            time.sleep(0.1)


def submit(client: HubClient, kind: str, body: dict[str, Any]) -> Sent:
    reply = client.submit(body, f"bench-{uuid.uuid4()}")
    if reply.status != 202:
        raise LoadFailed(f"a {kind} request was answered {reply.status}: {reply.body}")
    return Sent(kind, str(reply.body["request_id"]), time.time())


@dataclass
class MixedLoad:
    requests: int
    seconds: float
    p50_seconds: float
    p95_seconds: float
    statuses: dict[str, int]
    by_kind_p50_seconds: dict[str, float] = field(default_factory=dict)


def run_mixed_load(cloud: LocalCloud, client: HubClient, timeout: float = 600) -> MixedLoad:
    requests = mixed_requests()
    watch = CatalogWatch(cloud)
    started = time.time()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        sent = list(pool.map(lambda request: submit(client, *request), requests))
    watch.wait(sent, timeout)
    latencies = [item.terminal_at - item.accepted_at for item in sent if item.terminal_at is not None]
    finished = max(item.terminal_at or 0.0 for item in sent)
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        statuses = Counter(pool.map(lambda item: str(client.get(item.request_id).body.get("status")), sent))
    by_kind = {
        kind: percentile([s.terminal_at - s.accepted_at for s in sent if s.kind == kind and s.terminal_at], 0.5)
        for kind in {item.kind for item in sent}
    }
    return MixedLoad(
        requests=len(sent),
        seconds=finished - started,
        p50_seconds=percentile(latencies, 0.5),
        p95_seconds=percentile(latencies, 0.95),
        statuses=dict(statuses),
        by_kind_p50_seconds=by_kind,
    )


# -- one request at a time: what it makes the cloud do ----------------------------------------------


@dataclass
class Counts:
    """What one request made the local cloud do."""

    requests: Counter[str]  # AWS requests by service.operation
    sns_to_sqs_deliveries: int
    invocations: dict[str, int]  # Lambda invocations by function logical id
    duration_ms: dict[str, float]  # their durations, added up
    state_transitions: int
    executions: dict[str, int]  # by state machine type (EXPRESS / STANDARD)
    express_seconds: float  # Express executions' durations, added up
    task_states: Counter[str]  # Task states entered, by resource type (lambda, aws-sdk:...)
    api_requests: int = 1


class Quiet:
    """Waits until the hub has nothing left to do: every queue empty, every execution ended."""

    def __init__(self, cloud: LocalCloud) -> None:
        self._sqs = bench_client(cloud, "sqs")
        self._sfn = bench_client(cloud, "stepfunctions")
        self._queues = self._sqs.list_queues().get("QueueUrls", [])
        self.state_machines = {
            machine["stateMachineArn"]: machine["type"]
            for machine in self._sfn.list_state_machines()["stateMachines"]
        }

    def busy(self) -> bool:
        for url in self._queues:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if any(int(value) for value in attributes.values()):
                return True
        return any(
            self._sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
            for arn in self.state_machines
        )

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.busy():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= SETTLE_SECONDS:
                return
            time.sleep(0.1)
        raise LoadFailed(f"the hub was still busy {timeout:.0f}s after the request ended")

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


@dataclass
class _Snapshot:
    requests: Counter[str]
    deliveries: int
    invocations: dict[str, int]
    duration_ms: dict[str, float]
    executions: set[str]


class RequestCounts:
    def __init__(self, cloud: LocalCloud, counter: RequestCounter, deliveries: SnsDeliveryCounter) -> None:
        if cloud.stack is None or cloud.functions is None:
            raise LoadFailed("the local cloud is not running")
        self._cloud = cloud
        self._counter = counter
        self._deliveries = deliveries
        self._pools = {
            logical_id: cloud.functions.pool(spec.name) for logical_id, spec in cloud.stack.functions.items()
        }
        self._quiet = Quiet(cloud)
        self._watch = CatalogWatch(cloud)

    def _snapshot(self) -> _Snapshot:
        return _Snapshot(
            self._counter.snapshot(),
            self._deliveries.deliveries,
            {name: pool.invocations for name, pool in self._pools.items()},
            {name: pool.duration_ms for name, pool in self._pools.items()},
            self._quiet.executions(),
        )

    def of_one(self, client: HubClient, kind: str, body: dict[str, Any]) -> Counts:
        self._quiet.wait()
        before = self._snapshot()
        sent = submit(client, kind, body)
        self._watch.wait([sent], timeout=120)
        self._quiet.wait()
        after = self._snapshot()
        invocations = {
            name: after.invocations[name] - before.invocations[name]
            for name in after.invocations
            if after.invocations[name] != before.invocations[name]
        }
        counts = Counts(
            requests=after.requests - before.requests,
            sns_to_sqs_deliveries=after.deliveries - before.deliveries,
            invocations=invocations,
            duration_ms={name: after.duration_ms[name] - before.duration_ms[name] for name in invocations},
            state_transitions=0,
            executions=Counter(),
            express_seconds=0.0,
            task_states=Counter(),
        )
        for arn in sorted(after.executions - before.executions):
            self._add_execution(counts, arn)
        return counts

    def _add_execution(self, counts: Counts, execution_arn: str) -> None:
        machine = execution_arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
        kind = self._quiet.state_machines.get(machine, "STANDARD")
        counts.executions[kind] = counts.executions.get(kind, 0) + 1
        events = self._quiet.history(execution_arn)
        counts.state_transitions += sum(1 for event in events if event["type"].endswith("StateEntered"))
        for event in events:
            if event["type"] == "TaskScheduled":
                counts.task_states[event["taskScheduledEventDetails"]["resourceType"]] += 1
        if kind == "EXPRESS" and events:
            counts.express_seconds += (events[-1]["timestamp"] - events[0]["timestamp"]).total_seconds()


def watch_requests(cloud: LocalCloud) -> tuple[RequestCounter, SnsDeliveryCounter]:
    """Installs the counters on a started local cloud."""
    if cloud.emulator is None:
        raise LoadFailed("the local cloud is not running")
    counter, deliveries = RequestCounter(), SnsDeliveryCounter()
    cloud.emulator.add_middleware(counter.middleware)
    deliveries.install()
    return counter, deliveries



