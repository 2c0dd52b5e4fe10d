"""Time a test does not wait for: what depends on time passing is dated back instead.

The sweeper fails a request that nothing was heard of for longer than its budget; rather than wait
that long, a test dates the request's last news back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def date_back_last_news(dynamodb: Any, table: str, request_id: str, seconds: float) -> None:
    """Moves the catalog's last news of a request (`updated_at`, which the core writer sets and the
    sweeper's overdue index sorts on) `seconds` into the past."""
    key = {"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}}
    item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    earlier = datetime.fromisoformat(item["updated_at"]["S"]) - timedelta(seconds=seconds)
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET updated_at = :earlier",
        ExpressionAttributeValues={":earlier": {"S": earlier.isoformat()}},
    )
