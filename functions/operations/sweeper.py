"""The sweeper: no request is left open forever, and its caller is told why (a scheduled function).

Two kinds of request would otherwise stay `ACCEPTED` or `RUNNING` for good:

- one whose message the hub could not deliver: a consumer failed on it as often as its queue
  allows, and it waits in that consumer's dead-letter queue. The sweeper reads every such queue
  without taking anything out of it (each message is handed back at once, for a redrive);
- one that went silent: no event for longer than a request may be quiet (a message lost, an outage
  while a failure was being announced), found in the catalog's sparse index of open requests.

For each it announces `request.failed` through the hub (error `DeadLettered` or `Overdue`, and
which consumer or how long), and the core writer records it. Event ids derive from what was found,
so sweeping the same message again announces nothing new. The hub's FAILED gives way to the
pipeline's own outcome if redriven work still finishes the request (core/transitions.py). The
sweeper writes nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, Field, Json, ValidationError

from contracts.catalog import OPEN_PIPELINE, OPEN_REQUESTS_INDEX, REQUEST_PK_PREFIX, CatalogReader
from contracts.events import REQUEST_FAILED, TOOL_REGISTERED, TOOL_WITHDRAWN
from shared import aws
from shared.config import HubSettings, load_settings
from shared.hub import HubEvent, HubPublisher, new_event, parse_notification
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

SOURCE = "sweeper"
# How long a peeked message stays hidden from others (a redrive): released at once, or by itself.
PEEK_SECONDS = 30
MAX_MESSAGES_PER_QUEUE = 500  # a sweep reads at most this many of one queue; the next one reads on
PIPELINES = ("preprocess", "invoke", "agent", "customize")


class SweeperSettings(HubSettings):
    CATALOG_TABLE: str
    # {"the core writer": "<queue url>", ...}: the dead-letter queues whose messages fail their request.
    DEAD_LETTER_QUEUES: Json[dict[str, str]]
    OVERDUE_AFTER_SECONDS: int = Field(gt=0)


class Sweep(BaseModel):
    """The scheduled event's input (EventBridge passes the rule's constant input as it is)."""

    overdue_after_seconds: int | None = Field(default=None, gt=0)


@dataclass(frozen=True)
class Finding:
    request_id: str
    pipeline: str
    subject: str
    error: str
    cause: str
    found_by: str  # what makes the announcement unique: the message's event id, or "overdue"


class DeadLetters:
    """Reads a dead-letter queue without taking its messages: each is handed back once read."""

    def __init__(self, sqs: SQSClient) -> None:
        self._sqs = sqs

    def peek(self, queue_url: str) -> Iterator[MessageTypeDef]:
        seen: list[str] = []
        try:
            while len(seen) < MAX_MESSAGES_PER_QUEUE:
                batch = self._sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=PEEK_SECONDS,
                ).get("Messages", [])
                if not batch:
                    return
                for message in batch:
                    seen.append(message["ReceiptHandle"])
                    yield message
        finally:
            self._release(queue_url, seen)

    def _release(self, queue_url: str, handles: list[str]) -> None:
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(number), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for number, handle in enumerate(handles[start : start + 10])
            ]
            self._sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]


class OpenRequests:
    """The catalog's sparse index of requests not yet finished."""

    def __init__(self, table: str, dynamodb: DynamoDBClient) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def quiet_since(self, pipeline: str, before: str) -> Iterator[dict[str, str]]:
        """Open requests of the pipeline whose latest event was recorded before `before`."""
        # Query page by page (not a paginator): the IAM check reads the operations code calls.
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OPEN_REQUESTS_INDEX,
            "KeyConditionExpression": f"{OPEN_PIPELINE} = :pipeline AND updated_at < :before",
            "ExpressionAttributeValues": {":pipeline": {"S": pipeline}, ":before": {"S": before}},
        }
        while True:
            page = self._dynamodb.query(**arguments)
            for item in page["Items"]:
                yield {name: value["S"] for name, value in item.items() if "S" in value}
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def dead_lettered(consumer: str, message: MessageTypeDef, catalog: CatalogReader) -> Finding | None:
    """The failure a dead-lettered message means for its request; None when it means none."""
    try:
        event: HubEvent = parse_notification(message["Body"])
    except (ValidationError, ValueError, KeyError):
        logger.warning("a dead letter that is no hub event", extra={"consumer": consumer})
        return None
    if event.event_type in (TOOL_REGISTERED, TOOL_WITHDRAWN, REQUEST_FAILED):
        return None  # no request's work (or the sweeper's own news, which will be retried)
    row = catalog.get(event.request_id)
    if row is not None and row.status.is_terminal:
        return None
    return Finding(
        request_id=event.request_id,
        pipeline=event.pipeline,
        subject=event.subject,
        error="DeadLettered",
        cause=(
            f"the hub could not deliver {event.event_type} to {consumer}, which failed on it every time "
            f"it was delivered; the message waits in {consumer}'s dead-letter queue for a redrive"
        ),
        found_by=event.event_id,
    )


def overdue(item: dict[str, str], quiet_seconds: int) -> Finding:
    return Finding(
        request_id=item["pk"].removeprefix(REQUEST_PK_PREFIX),
        pipeline=item[OPEN_PIPELINE],
        subject=item["subject"],
        error="Overdue",
        cause=(
            f"nothing was heard of the request for more than {quiet_seconds} s (since "
            f"{item['updated_at']}): a message was lost or a step never answered"
        ),
        found_by=f"overdue-{item['updated_at']}",
    )


def announce(finding: Finding, hub: HubPublisher) -> None:
    hub.publish(
        new_event(
            event_type=REQUEST_FAILED,
            request_id=finding.request_id,
            pipeline=finding.pipeline,
            source=SOURCE,
            subject=finding.subject,
            sequence=finding.found_by,
            payload={"error": finding.error, "cause": finding.cause},
        )
    )
    logger.warning(
        "request failed by the sweeper",
        extra={"request_id": finding.request_id, "error": finding.error, "cause": finding.cause},
    )


def sweep(
    settings: SweeperSettings,
    quiet_seconds: int,
    letters: DeadLetters,
    open_requests: OpenRequests,
    catalog: CatalogReader,
    hub: HubPublisher,
    now: datetime,
) -> dict[str, Any]:
    findings: dict[str, Finding] = {}  # one per request: the first thing found wrong with it
    for consumer, queue_url in settings.DEAD_LETTER_QUEUES.items():
        for message in letters.peek(queue_url):
            finding = dead_lettered(consumer, message, catalog)
            if finding is not None:
                findings.setdefault(finding.request_id, finding)
    before = (now - timedelta(seconds=quiet_seconds)).isoformat()
    for pipeline in PIPELINES:
        for item in open_requests.quiet_since(pipeline, before):
            finding = overdue(item, quiet_seconds)
            findings.setdefault(finding.request_id, finding)
    for finding in findings.values():
        announce(finding, hub)
    counts = {
        "dead_lettered": sum(finding.error == "DeadLettered" for finding in findings.values()),
        "overdue": sum(finding.error == "Overdue" for finding in findings.values()),
    }
    metrics.add_metric(name="RequestsFailedBySweeper", unit=MetricUnit.Count, value=len(findings))
    return counts


@cache
def settings() -> SweeperSettings:
    return load_settings(SweeperSettings)


@cache
def hub() -> HubPublisher:
    return HubPublisher.for_topic(settings().HUB_TOPIC_ARN, settings().DATA_LAKE_BUCKET)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    asked = Sweep.model_validate(event if isinstance(event, dict) else {})
    dynamodb = aws.dynamodb()
    return sweep(
        settings(),
        asked.overdue_after_seconds or settings().OVERDUE_AFTER_SECONDS,
        DeadLetters(aws.sqs()),
        OpenRequests(settings().CATALOG_TABLE, dynamodb),
        CatalogReader(settings().CATALOG_TABLE, dynamodb, consistent=True),
        hub(),
        datetime.now(UTC),
    )
