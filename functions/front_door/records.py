"""The front door's own records, kept in its dedupe table for the dedupe window.

- `RequestIdReservations`: which request id each (caller, Idempotency-Key) was given. Powertools
  Idempotency answers a retry with the first response while its record lives, but when the function
  dies after publishing and before completing that record, the in-progress record expires and the
  client's retry runs again: the reservation hands it the same request id, and the hub's
  deterministic event ids let every consumer drop the second `request.accepted`. Powertools'
  payload validation cannot help then (its record was overwritten), so the reservation keeps the
  body's hash itself, and the same key with another body is still refused.
- `AcceptanceRecords`: that a request was accepted, and whose it is. The core writer's catalog is
  the request's record; until it has caught up, this lets the caller read and cancel the request
  the moment it is accepted. The front door only ever reads the catalog.

The cursors of `GET /v1/requests` (`front_door.listings.Cursors`) share the table, for a day each.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_RESERVED = "request-id#"
_ACCEPTED = "accepted#"


class RequestIdReservations:
    def __init__(self, table: str, dynamodb: DynamoDBClient) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def reserve(self, subject: str, key: str, body_hash: str, window_seconds: int) -> str:
        """The request id for this caller's key: a new one, or the one an earlier attempt reserved."""
        now = int(time.time())
        item_id = _RESERVED + hashlib.sha256(f"{subject}\x00{key}".encode()).hexdigest()
        request_id = str(uuid.uuid4())
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": item_id},
                    "request_id": {"S": request_id},
                    "body_hash": {"S": body_hash},
                    "expiration": {"N": str(now + window_seconds)},
                },
                ConditionExpression="attribute_not_exists(id) OR expiration < :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException as error:
            earlier = cast("dict[str, Any]", error.response.get("Item") or {})
            if earlier.get("body_hash", {}).get("S") != body_hash:
                raise IdempotencyValidationError(
                    "Idempotency-Key was already used with a different request body"
                ) from error
            return str(earlier["request_id"]["S"])
        return request_id


@dataclass(frozen=True)
class AcceptedRequest:
    request_id: str
    subject: str
    pipeline: str
    stages: tuple[str, ...]
    accepted_at: str


class AcceptanceRecords:
    def __init__(self, table: str, dynamodb: DynamoDBClient) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def record(self, accepted: AcceptedRequest, window_seconds: int) -> None:
        """Idempotent: a retry of the same acceptance writes the same record again."""
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "id": {"S": _ACCEPTED + accepted.request_id},
                "subject": {"S": accepted.subject},
                "pipeline": {"S": accepted.pipeline},
                "stages": {"L": [{"S": stage} for stage in accepted.stages]},
                "accepted_at": {"S": accepted.accepted_at},
                "expiration": {"N": str(int(time.time()) + window_seconds)},
            },
        )

    def get(self, request_id: str) -> AcceptedRequest | None:
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"id": {"S": _ACCEPTED + request_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return AcceptedRequest(
            request_id=request_id,
            subject=item["subject"]["S"],
            pipeline=item["pipeline"]["S"],
            stages=tuple(stage["S"] for stage in item["stages"]["L"]),
            accepted_at=item["accepted_at"]["S"],
        )
