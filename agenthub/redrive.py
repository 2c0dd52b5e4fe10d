"""`agenthub redrive <queue>`: moves a dead-letter queue's messages back to the queue they came from.

It is SQS's own redrive (StartMessageMoveTask, then ListMessageMoveTasks until the task ends), so
it works the same against the local cloud (whose emulator serves both calls) and a deployed stack.
The queue is named as the operator knows it: the hub subscriber's logical id in the template
(`PreprocessSubscriber`, also `PreprocessSubscriber.DeadLetterQueue`), or the queue's name, URL or
ARN; `all` redrives every dead-letter queue of the stack that holds messages.

- A deployed stack is found by name through CloudFormation: the subscriber's nested stack, then
  its `DeadLetterQueue` resource.
- The local cloud has no CloudFormation: its dead-letter queues are the queues some queue's
  redrive policy names, and a subscriber's is the one whose name carries the subscriber's logical
  id (the local deployer names queues as CloudFormation does: `<stack>-<logical id>-...`).

Every redriven message is processed again by its subscriber, which is idempotent (the core
writer by event id, the triggers by request and stage), so work a message did before it was
dead-lettered is not done twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEAD_LETTER_QUEUE = "DeadLetterQueue"  # the logical id in templates/hub-subscriber.yaml
FINISHED = ("COMPLETED", "FAILED", "CANCELLED")
ALL = "all"


class RedriveError(RuntimeError):
    """The queue cannot be found or redriven; the message says why."""


@dataclass(frozen=True)
class DeadLetterQueue:
    name: str
    url: str
    arn: str
    waiting: int  # messages in it now (ApproximateNumberOfMessages)


@dataclass(frozen=True)
class Moved:
    queue: DeadLetterQueue
    status: str  # the move task's, or "EMPTY" when there was nothing to move
    moved: int
    failure: str = ""


def _describe(sqs: Any, url: str) -> DeadLetterQueue:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"]
    )["Attributes"]
    arn = attributes["QueueArn"]
    return DeadLetterQueue(arn.rsplit(":", 1)[-1], url, arn, int(attributes["ApproximateNumberOfMessages"]))


def _subscriber(name: str) -> str:
    """`PreprocessSubscriber.DeadLetterQueue` -> `PreprocessSubscriber`."""
    return name.removesuffix(f".{DEAD_LETTER_QUEUE}")


def _by_url_or_arn(sqs: Any, queue: str) -> str | None:
    if queue.startswith(("https://", "http://")):
        return queue
    if queue.startswith("arn:"):
        name, account = queue.rsplit(":", 1)[-1], queue.split(":")[4]
        return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])
    return None


class DeployedStack:
    """Dead-letter queues of a stack deployed with CloudFormation, found through its resources."""

    def __init__(self, stack_name: str, cloudformation: Any, sqs: Any) -> None:
        self._stack = stack_name
        self._cloudformation = cloudformation
        self.sqs = sqs

    def _nested_dead_letter_queue(self, nested_stack: str) -> str | None:
        try:
            resource = self._cloudformation.describe_stack_resource(
                StackName=nested_stack, LogicalResourceId=DEAD_LETTER_QUEUE
            )["StackResourceDetail"]
        except self._cloudformation.exceptions.ClientError:
            return None
        return str(resource["PhysicalResourceId"])

    def find(self, queue: str) -> list[DeadLetterQueue]:
        direct = _by_url_or_arn(self.sqs, queue)
        if direct:
            return [_describe(self.sqs, direct)]
        if queue == ALL:
            paginator = self._cloudformation.get_paginator("list_stack_resources")
            nested = [
                resource["PhysicalResourceId"]
                for page in paginator.paginate(StackName=self._stack)
                for resource in page["StackResourceSummaries"]
                if resource["ResourceType"] == "AWS::CloudFormation::Stack"
            ]
            urls = [url for url in map(self._nested_dead_letter_queue, nested) if url]
            return [_describe(self.sqs, url) for url in urls]
        try:
            subscriber = self._cloudformation.describe_stack_resource(
                StackName=self._stack, LogicalResourceId=_subscriber(queue)
            )["StackResourceDetail"]
        except self._cloudformation.exceptions.ClientError as error:
            raise RedriveError(
                f"stack {self._stack} has no subscriber {_subscriber(queue)}: {error}"
            ) from error
        url = self._nested_dead_letter_queue(subscriber["PhysicalResourceId"])
        if url is None:
            raise RedriveError(f"{_subscriber(queue)} in stack {self._stack} has no {DEAD_LETTER_QUEUE}")
        return [_describe(self.sqs, url)]


class LocalStack:
    """Dead-letter queues of the local cloud, found by the redrive policies that name them."""

    def __init__(self, stack_name: str, sqs: Any) -> None:
        self._stack = stack_name
        self.sqs = sqs

    def dead_letter_queues(self) -> list[str]:
        urls = self.sqs.list_queues(QueueNamePrefix=self._stack, MaxResults=1000).get("QueueUrls", [])
        targets = set()
        for url in urls:
            policy = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
            redrive = policy.get("Attributes", {}).get("RedrivePolicy")
            if redrive:
                targets.add(json.loads(redrive)["deadLetterTargetArn"].rsplit(":", 1)[-1])
        return [url for url in urls if url.rsplit("/", 1)[-1] in targets]

    def find(self, queue: str) -> list[DeadLetterQueue]:
        direct = _by_url_or_arn(self.sqs, queue)
        if direct:
            return [_describe(self.sqs, direct)]
        urls = self.dead_letter_queues()
        if queue != ALL:
            name = _subscriber(queue)
            urls = [url for url in urls if name == url.rsplit("/", 1)[-1] or f"-{name}-" in url]
            if len(urls) != 1:
                known = ", ".join(url.rsplit("/", 1)[-1] for url in self.dead_letter_queues())
                raise RedriveError(f"{len(urls)} dead-letter queues match {queue!r}; the stack has: {known}")
        return [_describe(self.sqs, url) for url in urls]


def redrive(
    sqs: Any,
    queue: DeadLetterQueue,
    wait_seconds: float = 300,
    poll_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Moved:
    """Moves every message of `queue` back to its source queue(s) and waits for the move to end."""
    if queue.waiting == 0:
        return Moved(queue, "EMPTY", 0)
    try:
        handle = sqs.start_message_move_task(SourceArn=queue.arn)["TaskHandle"]
    except sqs.exceptions.ClientError as error:
        raise RedriveError(f"SQS refused to redrive {queue.name}: {error}") from error
    deadline = time.monotonic() + wait_seconds
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=queue.arn, MaxResults=10).get("Results", [])
        task = next((task for task in tasks if task.get("TaskHandle") == handle), tasks[0] if tasks else {})
        status = str(task.get("Status", "RUNNING"))
        if status in FINISHED or time.monotonic() >= deadline:
            return Moved(
                queue,
                status,
                int(task.get("ApproximateNumberOfMessagesMoved", 0)),
                task.get("FailureReason", ""),
            )
        sleep(poll_seconds)
