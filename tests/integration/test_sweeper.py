"""The sweeper against the template's dead-letter queues, catalog index and hub (moto)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from agenthub.local.deploy import Stack
from agenthub.local.pollers import lambda_sqs_event
from tests.integration.test_core_writer import (
    ACCEPTED,
    COMPLETED,
    REQUEST_ID,
    catalog_row,
    deliver,
    hub_event,
)
from tests.support.clock import date_back_last_news
from tests.support.moto_stack import REGION, FunctionRunner, client, drain

INVOKE_DEAD_LETTERS = "InvokeSubscriber.DeadLetterQueue"


def dead_letter(stack: Stack, queue: str, event: Any) -> None:
    """The message a subscriber gave up on, as its queue's redrive policy leaves it."""
    body = {
        "Type": "Notification",
        "MessageId": event.event_id,
        "TopicArn": stack.ref("AgentCoreTopic"),
        "Message": event.model_dump_json(),
    }
    client("sqs").send_message(QueueUrl=stack.ref(queue), MessageBody=json.dumps(body))


def waiting(stack: Stack, queue: str) -> int:
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=stack.ref(queue), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def announced(stack: Stack) -> list[dict[str, Any]]:
    """The hub events the core writer's subscription received since last asked, removed."""
    messages = drain(stack.ref("CoreWriterSubscriber.Queue"))
    return [json.loads(json.loads(message["Body"])["Message"]) for message in messages]


def record_announcements(stack: Stack, functions: FunctionRunner) -> list[dict[str, Any]]:
    messages = drain(stack.ref("CoreWriterSubscriber.Queue"))
    reply = functions.invoke("CoreWriterFunction", lambda_sqs_event(messages, "queue-arn", REGION))
    assert reply == {"batchItemFailures": []}
    return [json.loads(json.loads(message["Body"])["Message"]) for message in messages]


def test_a_dead_lettered_request_fails_naming_the_consumer_and_its_message_stays_for_a_redrive(
    stack: Stack, functions: FunctionRunner
) -> None:
    deliver(functions, ACCEPTED)
    dead_letter(stack, INVOKE_DEAD_LETTERS, ACCEPTED)

    found = functions.invoke("SweeperFunction", {})
    (failed,) = record_announcements(stack, functions)

    assert found == {"dead_lettered": 1, "overdue": 0}
    assert failed["event_type"] == "request.failed"
    assert failed["source"] == "sweeper"
    row = catalog_row(stack)
    error = json.loads(row["error"]["inline"])
    assert row["status"] == "FAILED"
    assert error["error"] == "DeadLettered"
    assert error["cause"].startswith("the hub could not deliver request.accepted to the invoke trigger")
    assert waiting(stack, INVOKE_DEAD_LETTERS) == 1  # handed back at once, visible for a redrive


def test_sweeping_the_same_message_twice_announces_the_same_event(
    stack: Stack, functions: FunctionRunner
) -> None:
    deliver(functions, ACCEPTED)
    dead_letter(stack, INVOKE_DEAD_LETTERS, ACCEPTED)

    functions.invoke("SweeperFunction", {})
    (first,) = announced(stack)
    functions.invoke("SweeperFunction", {})
    (second,) = announced(stack)

    assert first["event_id"] == second["event_id"]  # the core writer keeps only one


def test_a_message_whose_request_already_ended_or_that_is_no_hub_event_fails_nothing(
    stack: Stack, functions: FunctionRunner
) -> None:
    deliver(functions, ACCEPTED, COMPLETED)
    dead_letter(stack, INVOKE_DEAD_LETTERS, ACCEPTED)
    client("sqs").send_message(QueueUrl=stack.ref(INVOKE_DEAD_LETTERS), MessageBody="not json")

    found = functions.invoke("SweeperFunction", {})

    assert found == {"dead_lettered": 0, "overdue": 0}
    assert announced(stack) == []
    assert catalog_row(stack)["status"] == "SUCCEEDED"
    assert waiting(stack, INVOKE_DEAD_LETTERS) == 2  # neither taken out of its queue


def test_an_open_request_quiet_past_its_budget_fails_as_overdue_and_a_finished_one_does_not(
    stack: Stack, functions: FunctionRunner
) -> None:
    finished = "0b7e2c1a-5d4f-4a3b-8c9d-1e2f3a4b5c6d"
    deliver(
        functions,
        ACCEPTED,
        hub_event("request.accepted", ACCEPTED.payload, first_stage="invoke", request_id=finished),
        hub_event("invoke.completed", COMPLETED.payload, seconds=2, request_id=finished),
    )
    # Nothing was heard of either for 2 s: their last news is dated back, rather than waited for.
    for request_id in (REQUEST_ID, finished):
        date_back_last_news(client("dynamodb"), stack.ref("CatalogTable"), request_id, seconds=2)

    found = functions.invoke("SweeperFunction", {"overdue_after_seconds": 1})
    (failed,) = record_announcements(stack, functions)

    assert found == {"dead_lettered": 0, "overdue": 1}
    assert failed["request_id"] == REQUEST_ID
    row = catalog_row(stack)
    error = json.loads(row["error"]["inline"])
    assert row["status"] == "FAILED"
    assert error["error"] == "Overdue"
    assert error["cause"].startswith("nothing was heard of the request for more than 1 s")
    assert catalog_row(stack, finished)["status"] == "SUCCEEDED"


def test_a_sweep_with_a_bad_budget_is_refused_by_name(stack: Stack, functions: FunctionRunner) -> None:
    with pytest.raises(ValidationError, match="overdue_after_seconds"):
        functions.invoke("SweeperFunction", {"overdue_after_seconds": 0})
