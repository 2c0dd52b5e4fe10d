"""`agenthub local invoke --follow`: what an invocation started, followed until it ends.

An invocation starts things that outlive it: a trigger starts a pipeline's execution, the front
door publishes `request.accepted` and the pipeline runs, an announcer publishes a hub message
that the core writer applies. They are found by the requests they work for: the request ids the
event names and the response returns (every hub message and every execution input carries one).

- Hub messages: a queue of the follower's own, subscribed to the hub topic (`AgentCoreTopic`) with
  raw delivery, for as long as it follows: every message published meanwhile is seen, whether or
  not the catalog will record it. Messages of other requests are passed over.
- Executions: of the stack's state machines, those started since the invocation began whose input
  names a followed request.
- Requests the response accepted (the front door's 202): their status in the catalog.

Following ends once every execution seen has ended, every accepted request is terminal in the
catalog, and the local cloud is quiet (`GET /_agenthub/activity`, `agenthub.local.activity`): no
message waits in or is delivered from a subscriber's queue, no function runs, no execution runs. A
finished stage may start the next through the hub, so "nothing running yet" is not the end; quiet is,
however long a loaded machine takes to deliver the next message. Between looks it waits for the local
cloud to change, not for a time.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from agenthub.local.snapshot import TAP_QUEUE_PREFIX

if TYPE_CHECKING:
    from agenthub.local.invoke import LocalCloudClient

STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"
TERMINAL_REQUEST = ("SUCCEEDED", "FAILED", "CANCELLED")
# The longest wait between looks when the local cloud signals no change (to show an execution's end).
LOOK_AGAIN_SECONDS = 1.0
# An execution started a moment before the invocation's own clock reading still counts.
CLOCK_SLACK_SECONDS = 1.0


def request_ids_in(value: Any) -> set[str]:
    """Every `request_id` in a value, looking into JSON held in strings (an SQS body, an API body)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "request_id" and isinstance(item, str):
                found.add(item)
            else:
                found |= request_ids_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= request_ids_in(item)
    elif isinstance(value, str) and value[:1] in "{[":
        with contextlib.suppress(ValueError):  # text that merely starts like JSON
            found |= request_ids_in(json.loads(value))
    return found


@dataclass
class Execution:
    arn: str
    name: str
    state_machine: str  # the template's logical id
    status: str
    request_id: str | None
    error: str | None = None
    cause: str | None = None


@dataclass
class FollowResult:
    executions: dict[str, Execution] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, str | None] = field(default_factory=dict)  # awaited request -> catalog status
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Nothing it started failed, and it all ended in time."""
        return not self.timed_out and all(e.status == "SUCCEEDED" for e in self.executions.values())

    def event_types(self) -> list[str]:
        return [str(message.get("event_type")) for message in self.messages]


class Follower:
    """Subscribe first (`open`), then invoke, then `follow`; `close` unsubscribes."""

    def __init__(self, cloud: LocalCloudClient, out: IO[str]) -> None:
        self._cloud = cloud
        self._out = out
        self._sqs = cloud.client("sqs")
        self._sns = cloud.client("sns")
        self._sfn = cloud.client("stepfunctions")
        self._dynamodb = cloud.client("dynamodb")
        self._queue_url: str | None = None
        self._subscription: str | None = None
        self._since = time.time()
        self._began = time.monotonic()
        self._machines = {
            str(resource["Ref"]): logical_id
            for logical_id, resource in cloud.names.resources.items()
            if resource.get("Type") == STATE_MACHINE_TYPE
        }
        self._inputs: dict[str, str | None] = {}  # execution ARN -> its request, read once

    def open(self) -> None:
        """Subscribes a queue of its own to the hub topic, before anything is published."""
        self._since = time.time()
        self._began = time.monotonic()
        topic = self._cloud.info.get("outputs", {}).get("AgentCoreTopic")
        if not topic:
            return
        name = f"{TAP_QUEUE_PREFIX}{uuid.uuid4().hex[:12]}"
        self._queue_url = str(self._sqs.create_queue(QueueName=name)["QueueUrl"])
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
                }
            ],
        }
        self._sqs.set_queue_attributes(QueueUrl=self._queue_url, Attributes={"Policy": json.dumps(policy)})
        self._subscription = str(
            self._sns.subscribe(
                TopicArn=topic,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "true"},
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        )

    def close(self) -> None:
        if self._subscription:
            self._sns.unsubscribe(SubscriptionArn=self._subscription)
            self._subscription = None
        if self._queue_url:
            self._sqs.delete_queue(QueueUrl=self._queue_url)
            self._queue_url = None

    # -- following ------------------------------------------------------------------------------

    def follow(self, request_ids: set[str], awaited: set[str], timeout: float) -> FollowResult:
        """Follows the executions and hub messages of `request_ids` until they end; `awaited`
        requests (accepted by the invocation) must also reach a terminal status in the catalog."""
        result = FollowResult(requests=dict.fromkeys(sorted(awaited)))
        if request_ids:
            self._say(f"following request(s) {', '.join(sorted(request_ids))}")
        deadline = time.monotonic() + timeout
        activity, quiet = self._cloud.activity(), False
        while True:
            # Quiet (confirmed by `settle`) before the look below, and nothing new in it, is the end.
            news = self._poll_messages(request_ids, result)
            news |= self._poll_executions(request_ids, result)
            news |= self._poll_requests(result)
            running = [e for e in result.executions.values() if e.status == "RUNNING"]
            waiting = [r for r, status in result.requests.items() if status not in TERMINAL_REQUEST]
            if quiet and not news and not running and not waiting:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.timed_out = True
                still = [e.name for e in running] + [f"request {r}" for r in waiting]
                self._say(
                    f"still running after {timeout:.0f}s: {', '.join(still) or 'nothing followed'}; "
                    f"the local cloud: {activity.describe()}"
                )
                break
            if running or waiting:
                self._cloud.wait_change(activity.generation, min(LOOK_AGAIN_SECONDS, remaining))
                activity, quiet = self._cloud.activity(), False
            else:
                activity = self._cloud.settle(remaining)
                quiet = activity.quiet
        self._summary(result)
        return result

    def _poll_messages(self, request_ids: set[str], result: FollowResult) -> bool:
        if not self._queue_url:
            return False
        news = False
        while batch := self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", []):
            for message in batch:
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
                try:
                    envelope = json.loads(message["Body"])
                except ValueError:
                    continue
                if not isinstance(envelope, dict) or envelope.get("request_id") not in request_ids:
                    continue
                result.messages.append(envelope)
                news = True
                self._say(
                    f"hub        {envelope.get('event_type')} from {envelope.get('source')} "
                    f"(request {envelope.get('request_id')})"
                )
        return news

    def _poll_executions(self, request_ids: set[str], result: FollowResult) -> bool:
        news = False
        for arn, logical_id in self._machines.items():
            pages = self._sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
            for page in pages:
                for item in page["executions"]:
                    started = item["startDate"].timestamp()
                    if started < self._since - CLOCK_SLACK_SECONDS:
                        continue
                    execution_arn = item["executionArn"]
                    known = result.executions.get(execution_arn)
                    if known is not None and known.status == item["status"]:
                        continue
                    request_id = self._request_of(execution_arn)
                    if request_id not in request_ids:
                        continue
                    news = True
                    if known is None:
                        known = result.executions[execution_arn] = Execution(
                            execution_arn, item["name"], logical_id, "RUNNING", request_id
                        )
                        self._say(f"execution  {item['name']} ({logical_id}) started")
                    known.status = item["status"]
                    if known.status != "RUNNING":
                        self._ended(known, item)
        return news

    def _request_of(self, execution_arn: str) -> str | None:
        if execution_arn not in self._inputs:
            described = self._sfn.describe_execution(executionArn=execution_arn)
            found = request_ids_in(described.get("input", ""))
            self._inputs[execution_arn] = min(found) if len(found) == 1 else _event_request(described)
        return self._inputs[execution_arn]

    def _ended(self, execution: Execution, item: dict[str, Any]) -> None:
        described = self._sfn.describe_execution(executionArn=execution.arn)
        execution.error, execution.cause = described.get("error"), described.get("cause")
        took = item.get("stopDate")
        seconds = f" in {(took - item['startDate']).total_seconds():.1f}s" if took else ""
        why = f": {execution.error}: {_short(execution.cause)}" if execution.error else ""
        self._say(f"execution  {execution.name} {execution.status}{seconds}{why}")

    def _poll_requests(self, result: FollowResult) -> bool:
        table = self._cloud.info.get("outputs", {}).get("CatalogTable")
        if not table:
            return False
        news = False
        for request_id, status in result.requests.items():
            if status in TERMINAL_REQUEST:
                continue
            item = self._dynamodb.get_item(
                TableName=table, Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}}
            ).get("Item")
            now = item["status"]["S"] if item else None
            if now != status:
                result.requests[request_id] = now
                news = True
                self._say(f"request    {request_id} {now}")
        return news

    def _summary(self, result: FollowResult) -> None:
        statuses = ", ".join(f"{e.name} {e.status}" for e in result.executions.values()) or "none"
        self._say(f"followed: execution(s) {statuses}; {len(result.messages)} hub message(s)")

    def _say(self, line: str) -> None:
        print(f"  +{time.monotonic() - self._began:5.1f}s  {line}", file=self._out, flush=True)


def _event_request(described: dict[str, Any]) -> str | None:
    """The request of an execution whose input names several: the hub event it was started with."""
    try:
        execution_input = json.loads(described.get("input") or "{}")
    except ValueError:
        return None
    event = execution_input.get("event") if isinstance(execution_input, dict) else None
    request_id = event.get("request_id") if isinstance(event, dict) else None
    return request_id if isinstance(request_id, str) else None


def _short(text: str | None, limit: int = 200) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
