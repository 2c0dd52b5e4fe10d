"""An agent's calls to its tools: asked through the hub, answered through the hub, resumed by token.

`agent.request_tool` runs as a Step Functions callback task: it keeps the run's task token under
the call's id in the agent's table and publishes `tool.requested`; the run then waits, with no
Lambda running, until `agent.relay` finds the token for the tool's answer and hands the answer to
the run. The tools themselves never see a token nor call Step Functions.
"""

from __future__ import annotations

import time
from functools import cache
from typing import TYPE_CHECKING

from shared import aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# As long as a run may wait on an answer, with room to spare: then the record is gone.
CALL_RECORD_SECONDS = 2 * 86_400


def call_id(request_id: str, tool_use_id: str) -> str:
    return f"{request_id}#{tool_use_id}"


class PendingCalls:
    """The task tokens of calls waiting for their tool, in the agent's table."""

    def __init__(self, table: str, dynamodb: DynamoDBClient) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def wait_for(self, call: str, token: str, tool_use_id: str, tool: str) -> None:
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "id": {"S": f"call#{call}"},
                "token": {"S": token},
                "tool_use_id": {"S": tool_use_id},
                "tool": {"S": tool},
                "expiration": {"N": str(int(time.time()) + CALL_RECORD_SECONDS)},
            },
        )

    def waiting(self, call: str) -> dict[str, str] | None:
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"id": {"S": f"call#{call}"}}, ConsistentRead=True
        ).get("Item")
        return {name: value["S"] for name, value in item.items() if "S" in value} if item else None


@cache
def pending_calls(table: str) -> PendingCalls:
    return PendingCalls(table, aws.dynamodb())
