"""One request's counts, as the figures `make bench` reports and as the usage the costs are priced on."""

from __future__ import annotations

from collections import Counter
from typing import Any

from agenthub.bench.costs import LambdaUse, Usage
from agenthub.bench.counting import DYNAMODB_READS, DYNAMODB_WRITES
from agenthub.bench.per_request import Counts
from agenthub.local.stack import Stack

S3_READS = ("GetObject", "HeadObject")


def _operations(requests: Counter[str], service: str, names: tuple[str, ...] | None = None) -> int:
    return sum(
        count
        for key, count in requests.items()
        if key.startswith(f"{service}.") and (names is None or key.split(".", 1)[1] in names)
    )


def sqs_requests(counts: Counts) -> int:
    """Every SQS request but the pollers' empty receives (a cost per queue, not per request),
    with the messages SNS delivered (each a SendMessage to the queue)."""
    return (
        _operations(counts.requests, "sqs")
        - counts.requests["sqs.ReceiveMessage.empty"]
        + (counts.sns_to_sqs_deliveries)
    )


def summary(counts: Counts) -> dict[str, Any]:
    """The per-request figures of results.json."""
    requests = counts.requests
    s3_reads = _operations(requests, "s3", S3_READS)
    return {
        "state_transitions": counts.state_transitions,
        "lambda_invocations": sum(counts.invocations.values()),
        "dynamodb_reads": _operations(requests, "dynamodb", DYNAMODB_READS),
        "dynamodb_writes": _operations(requests, "dynamodb", DYNAMODB_WRITES),
        "dynamodb_write_units": requests["dynamodb.write_units"],
        "s3_requests": _operations(requests, "s3"),
        "s3_reads": s3_reads,
        "hub_messages": requests["sns.Publish"],
        "sqs_requests": sqs_requests(counts),
        "sns_to_sqs_deliveries": counts.sns_to_sqs_deliveries,
        "api_requests": counts.api_requests,
        "express_executions": counts.executions.get("EXPRESS", 0),
        "standard_executions": counts.executions.get("STANDARD", 0),
        "model_calls": _operations(requests, "bedrock"),
        "log_bytes": counts.log_bytes,
        "lambda_by_function": dict(sorted(counts.invocations.items())),
        "lambda_billed_ms": dict(sorted(counts.billed_ms.items())),
        "task_states": dict(counts.task_states),
    }


def hub_publishers(stack: Stack, topic: str = "AgentCoreTopic") -> int:
    """IAM roles of the stack (nested stacks too) allowed sns:Publish on the hub topic: SNS's
    publishing principals, each of which gets data keys of its own."""
    arn = stack.ref(topic)
    return sum(
        any(
            _allows_publish(policy.get("PolicyDocument", {}), arn)
            for policy in properties.get("Policies", [])
        )
        for child in stack.walk()
        for name, properties in child.properties.items()
        if child.types.get(name) == "AWS::IAM::Role"
    )


def _allows_publish(document: dict[str, Any], arn: str) -> bool:
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        actions, resources = statement.get("Action", []), statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if statement.get("Effect") == "Allow" and "sns:Publish" in actions and arn in resources:
            return True
    return False


def usage_of(counts: Counts, memory_mb: dict[str, int], publishers: int = 0) -> Usage:
    """What the request is billed for; `memory_mb` is each function's memory, by logical id;
    `publishers` the hub topic's publishing principals (for SNS's KMS requests)."""
    requests = counts.requests
    task_ms = sum(counts.billed_ms.get(name, 0) * share for name, share in _task_shares(counts).items())
    return Usage(
        api_requests=counts.api_requests,
        lambdas={
            name: LambdaUse(invocations, counts.billed_ms.get(name, 0), memory_mb[name])
            for name, invocations in counts.invocations.items()
        },
        dynamodb_write_units=requests["dynamodb.write_units"],
        dynamodb_reads=_operations(requests, "dynamodb", DYNAMODB_READS),
        sns_publishes=requests["sns.Publish"],
        sqs_requests=sqs_requests(counts),
        s3_writes=_operations(requests, "s3") - _operations(requests, "s3", S3_READS),
        s3_reads=_operations(requests, "s3", S3_READS),
        express_executions=counts.executions.get("EXPRESS", 0),
        express_billed_seconds=counts.express_billed_seconds,
        standard_transitions=counts.standard_transitions,
        all_transitions=counts.state_transitions,
        sdk_task_states=sum(n for kind, n in counts.task_states.items() if kind != "lambda"),
        log_bytes=counts.log_bytes,
        lambda_task_ms=task_ms / max(1, sum(counts.task_invocations.values())),
        hub_publishers=publishers,
    )


def _task_shares(counts: Counts) -> dict[str, float]:
    """For each function Step Functions invoked, the share of its invocations that were tasks."""
    return {
        name: tasks / counts.invocations[name]
        for name, tasks in counts.task_invocations.items()
        if counts.invocations.get(name)
    }
