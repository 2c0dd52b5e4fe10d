"""Cancellation marks: a request's pipeline microservice remembers that its caller cancelled it.

The mark lives in the microservice's own starts table, beside the trigger's dedupe records. A
trigger does not start a marked request, and a long-running state machine checks for the mark
before it starts a job and after each check on it, so a cancel that arrives before, during or
between those steps still stops the work.
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import TYPE_CHECKING

from shared.config import HubSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# As long as SQS may still redeliver the request (14 days).
MARK_SECONDS = 14 * 86_400


def mark_id(request_id: str) -> str:
    return f"cancelled#{request_id}"


class CancellationSettings(HubSettings):
    """A pipeline's cancel handler: it marks requests in its starts table and answers on the hub."""

    STARTS_TABLE: str


class CancellationMarks:
    def __init__(self, table: str, dynamodb: DynamoDBClient) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def mark(self, request_id: str) -> None:
        with suppress(self._dynamodb.exceptions.ConditionalCheckFailedException):  # already marked
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": mark_id(request_id)},
                    "expiration": {"N": str(int(time.time()) + MARK_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(id)",
            )

    def is_marked(self, request_id: str) -> bool:
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"id": {"S": mark_id(request_id)}}, ConsistentRead=True
        ).get("Item")
        return item is not None
