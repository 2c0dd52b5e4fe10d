"""The soak reads the dead-letter queues without taking anything from the sweeper: every message it
notes is visible again as soon as it has read the queue (the sweeper fails their requests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agenthub.soak.runner import DeadLetter, Queues, peek_dead_letters

REGION = "us-east-1"


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def notification(event_type: str, request_id: str) -> str:
    return json.dumps(
        {"Type": "Notification", "Message": json.dumps({"event_type": event_type, "request_id": request_id})}
    )


def test_the_soak_notes_every_dead_letter_and_leaves_each_for_the_sweeper(sqs: Any) -> None:
    hub = sqs.create_queue(QueueName="agent-hub-AgentSubscriber-1-DeadLetterQueue-2")["QueueUrl"]
    tool = sqs.create_queue(QueueName="agent-hub-search-documents-SearchDocumentsSubscriber-3-D-4")[
        "QueueUrl"
    ]
    for number in range(12):
        sqs.send_message(QueueUrl=hub, MessageBody=notification("request.accepted", f"r{number}"))
    sqs.send_message(QueueUrl=tool, MessageBody=notification("tool.requested", "r99"))
    sqs.send_message(QueueUrl=tool, MessageBody="not a hub event")
    queues = Queues(
        subscribers=[],
        dead_letters={hub: "AgentSubscriber", tool: "SearchDocumentsSubscriber"},
        swept={hub},
    )

    first = peek_dead_letters(sqs, queues)
    again = peek_dead_letters(sqs, queues)

    assert first == again
    assert len(first) == 14
    letters = list(first.values())
    assert DeadLetter("AgentSubscriber", "request.accepted", "r11", swept=True) in letters
    assert DeadLetter("SearchDocumentsSubscriber", "tool.requested", "r99", swept=False) in letters
    assert DeadLetter("SearchDocumentsSubscriber", "unreadable", "", swept=False) in letters
    visible = sqs.receive_message(QueueUrl=hub, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert len(visible) == 10  # handed back, for the sweeper to find
