"""Reading agent memory: a session's latest turns, for whoever talks to a model (invoke, agent).

The core writer alone writes the memory table (`core.store.AgentMemory`); readers see only the
caller's own sessions, since the partition key starts with the caller's sub.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contracts.requests import memory_session_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def size(value: Any) -> int:
    """Bytes of `value` as JSON in UTF-8, which is how Step Functions counts its state."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def text_message(role: str, text: str) -> dict[str, Any]:
    """A Converse message of one text block, in Step Functions' (PascalCase) shape."""
    return {"Role": role, "Content": [{"Text": text}]}


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a session."""

    user_text: str
    assistant_text: str

    def messages(self) -> list[dict[str, Any]]:
        return [text_message("user", self.user_text), text_message("assistant", self.assistant_text)]


def history_within(turns: Sequence[Turn], budget: int) -> list[dict[str, Any]]:
    """The latest turns (given newest first) that fit the byte budget, oldest first, as messages."""
    kept: list[Turn] = []
    for turn in turns:
        budget -= size(turn.messages())
        if budget < 0:
            break
        kept.append(turn)
    return [message for turn in reversed(kept) for message in turn.messages()]


class MemoryReader:
    def __init__(self, table: str, dynamodb: DynamoDBClient, turns: int) -> None:
        self._table = table
        self._dynamodb = dynamodb
        self._turns = turns

    def latest_turns(self, subject: str, session_id: str | None) -> list[Turn]:
        """The session's latest turns, newest first (none without a session)."""
        if not session_id or self._turns == 0:
            return []
        items = self._dynamodb.query(
            TableName=self._table,
            KeyConditionExpression="session_key = :session",
            ExpressionAttributeValues={":session": {"S": memory_session_key(subject, session_id)}},
            ScanIndexForward=False,
            Limit=self._turns,
        )["Items"]
        return [Turn(item["user_text"]["S"], item["assistant_text"]["S"]) for item in items]
