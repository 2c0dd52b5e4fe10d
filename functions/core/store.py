"""Data access for the core writer: the data lake, the catalog and the agents' memory."""

from __future__ import annotations

import json
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from contracts.catalog import (
    MODEL_PK_PREFIX,
    CatalogReader,
    CatalogRow,
    RegisteredTool,
    StoredValue,
    to_item,
    tool_item,
)
from contracts.requests import memory_session_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client


class DataLake:
    def __init__(self, bucket: str, s3: S3Client, inline_max_bytes: int) -> None:
        self._bucket = bucket
        self._s3 = s3
        self._inline_max_bytes = inline_max_bytes

    def store(self, key: str, value: Any) -> StoredValue:
        """Keeps a small value inline; writes a large one to `key` (deterministic, so retries rewrite it)."""
        text = json.dumps(value, separators=(",", ":"))
        if len(text.encode()) <= self._inline_max_bytes:
            return StoredValue(inline=text)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=text.encode(), ContentType="application/json")
        return StoredValue(ref=f"s3://{self._bucket}/{key}")


class Catalog(CatalogReader):
    def __init__(self, table: str, dynamodb: DynamoDBClient) -> None:
        super().__init__(table, dynamodb, consistent=True)

    def save(self, row: CatalogRow, previous_version: int | None) -> bool:
        """Writes `row` if nobody else wrote since `previous_version` was read; False on a lost race."""
        if previous_version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :previous",
                "ExpressionAttributeValues": {":previous": {"N": str(previous_version)}},
            }
        try:
            self._dynamodb.put_item(TableName=self._table, Item=to_item(row), **condition)
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def save_tool(self, tool: RegisteredTool) -> bool:
        """Writes a registry row unless a newer registry event already did; False when it was stale."""
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=tool_item(tool),
                ConditionExpression="attribute_not_exists(pk) OR changed_at < :changed",
                ExpressionAttributeValues={":changed": {"S": tool.changed_at}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def register_model(
        self, subject: str, request_id: str, model: dict[str, Any], registered_at: str
    ) -> None:
        """Records a customized model under its caller and name; a later job of that name adds a version."""
        name = str(model["name"])
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"{MODEL_PK_PREFIX}{subject}#{name}"},
                "sk": {"S": f"REQUEST#{request_id}"},
                "subject": {"S": subject},
                "created_at": {"S": registered_at},
                "request_id": {"S": request_id},
                "model": {"S": json.dumps(model, sort_keys=True)},
            },
        )


class AgentMemory:
    """Conversation turns by session, keyed so a redelivered event appends nothing."""

    def __init__(self, table: str, dynamodb: DynamoDBClient, ttl_seconds: int) -> None:
        self._table = table
        self._dynamodb = dynamodb
        self._ttl_seconds = ttl_seconds

    def append_turn(
        self,
        *,
        subject: str,
        session_id: str,
        request_id: str,
        occurred_at: str,
        epoch_seconds: int,
        user_text: str,
        assistant_text: str,
        model_id: str,
    ) -> None:
        # A turn already there is a redelivered event.
        with suppress(self._dynamodb.exceptions.ConditionalCheckFailedException):
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "session_key": {"S": memory_session_key(subject, session_id)},
                    "turn_key": {"S": f"{occurred_at}#{request_id}"},
                    "request_id": {"S": request_id},
                    "user_text": {"S": user_text},
                    "assistant_text": {"S": assistant_text},
                    "model_id": {"S": model_id},
                    "expires_at": {"N": str(epoch_seconds + self._ttl_seconds)},
                },
                ConditionExpression="attribute_not_exists(turn_key)",
            )
