"""Whole flows through the local API, the hub and the core writer, checked in the catalog and the lake."""

from __future__ import annotations

import json
import uuid

from tests.e2e.conftest import Hub


def test_an_accepted_request_is_recorded_once_and_readable_by_its_caller_only(hub: Hub) -> None:
    ada, bob = hub.client("ada-e2e"), hub.client("bob-e2e")
    key = str(uuid.uuid4())
    body = {"pipeline": "preprocess", "input": {"text": "the hub, end to end"}}

    first = ada.submit(body, key)
    duplicate = ada.submit(body, key)
    view = ada.wait(first.body["request_id"], until=("ACCEPTED", "RUNNING", "SUCCEEDED", "FAILED"))

    assert first.status == duplicate.status == 202
    assert duplicate.body["request_id"] == first.body["request_id"]
    assert duplicate.headers["Idempotency-Replayed"] == "true"
    assert "request.accepted" in [entry["event_type"] for entry in view["history"]]
    assert [entry["event_type"] for entry in view["history"]].count("request.accepted") == 1
    assert bob.get(first.body["request_id"]).status == 404


def test_the_same_key_with_another_body_is_422(hub: Hub) -> None:
    client = hub.client("carol-e2e")
    key = str(uuid.uuid4())
    client.submit({"pipeline": "preprocess", "input": {"text": "one"}}, key)

    response = client.submit({"pipeline": "preprocess", "input": {"text": "two"}}, key)

    assert response.status == 422


def test_a_poison_message_lands_in_the_subscribers_dead_letter_queue(hub: Hub) -> None:
    """Published straight to the hub, it matches the core writer's filter but cannot be parsed."""
    marker = f"poison-{uuid.uuid4()}"
    hub.aws("sns").publish(
        TopicArn=hub.ref("AgentCoreTopic"),
        Message=json.dumps({"not": "an envelope", "marker": marker}),
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "request.accepted"}},
    )
    sqs = hub.aws("sqs")
    dead_letters = hub.ref("CoreWriterSubscriber.DeadLetterQueue")

    def poison_in_dead_letters() -> dict[str, object] | None:
        received = sqs.receive_message(QueueUrl=dead_letters, MaxNumberOfMessages=10).get("Messages", [])
        return next((message for message in received if marker in message["Body"]), None)

    found = hub.wait_until(poison_in_dead_letters, "the poison message reaching the dead-letter queue")
    assert marker in str(found["Body"])
    receives = sqs.get_queue_attributes(
        QueueUrl=hub.ref("CoreWriterSubscriber.Queue"), AttributeNames=["All"]
    )["Attributes"]
    assert receives["ApproximateNumberOfMessages"] == "0"


def test_a_message_that_kept_failing_is_redriven_from_its_dead_letter_queue(hub: Hub) -> None:
    """The core writer fails on one message until it dead-letters; the rest keep flowing; a redrive
    (SQS StartMessageMoveTask) then delivers it."""
    word = f"redrive-{uuid.uuid4().hex[:8]}"
    hub.fault(
        operation="Invoke", function="CoreWriterFunction", match=word, error="Runtime.ExitError", times=3
    )
    client = hub.client("redrive-e2e")
    request_id = client.submit(
        {"pipeline": "preprocess", "input": {"text": f"a document that says {word}"}}
    ).body["request_id"]
    sqs = hub.aws("sqs")
    dead_letters = hub.ref("CoreWriterSubscriber.DeadLetterQueue")

    def dead_lettered() -> bool:
        attributes = sqs.get_queue_attributes(
            QueueUrl=dead_letters, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return attributes["Attributes"]["ApproximateNumberOfMessages"] != "0"

    hub.wait_until(
        lambda: hub.calls("Invoke", word, target="CoreWriterFunction") >= 3, "three failed deliveries"
    )
    hub.wait_until(dead_lettered, "the failing message reaching the dead-letter queue")
    meanwhile = client.wait(request_id, timeout=30)
    assert "request.accepted" not in [entry["event_type"] for entry in meanwhile["history"]]

    arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.start_message_move_task(SourceArn=arn)
    hub.wait_until(
        lambda: (
            "request.accepted" in [entry["event_type"] for entry in client.get(request_id).body["history"]]
        ),
        "the redriven request.accepted being recorded",
        timeout=30,
    )
    view = client.get(request_id).body

    assert meanwhile["status"] == "SUCCEEDED"  # the pipeline's own events kept flowing
    assert view["status"] == "SUCCEEDED"
    assert [entry["event_type"] for entry in view["history"]].count("request.accepted") == 1
    assert sqs.list_message_move_tasks(SourceArn=arn)["Results"][-1]["ApproximateNumberOfMessagesMoved"] >= 1
