"""The hub envelope: what every publisher sends and every subscriber reads."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.hub import (
    CLAIM_CHECK_BYTES,
    SNS_MESSAGE_LIMIT_BYTES,
    HubEvent,
    HubPublisher,
    event_id_for,
    load_payload,
    message_size,
    new_event,
    parse_notification,
)


class RecordingSns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.published.append(kwargs)
        return {"MessageId": f"m-{len(self.published)}"}


class RecordingS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:
        self.objects[(Bucket, Key)] = Body

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def accepted(payload: dict[str, Any]) -> HubEvent:
    return new_event(
        event_type="request.accepted",
        request_id="r-1",
        pipeline="invoke",
        source="front-door",
        subject="ada",
        payload=payload,
        first_stage="preprocess",
        occurred_at=datetime(2026, 11, 25, tzinfo=UTC),
    )


def test_filterable_fields_travel_as_message_attributes() -> None:
    sns, s3 = RecordingSns(), RecordingS3()

    HubPublisher("topic", "lake", sns, s3).publish(accepted({"input": {}}))  # type: ignore[arg-type]

    (call,) = sns.published
    assert call["MessageAttributes"] == {
        "event_type": {"DataType": "String", "StringValue": "request.accepted"},
        "pipeline": {"DataType": "String", "StringValue": "invoke"},
        "source": {"DataType": "String", "StringValue": "front-door"},
        "schema_version": {"DataType": "String", "StringValue": "1"},
        "first_stage": {"DataType": "String", "StringValue": "preprocess"},
    }
    assert HubEvent.model_validate_json(call["Message"]) == accepted({"input": {}})
    assert s3.objects == {}


def test_a_message_over_the_claim_check_size_carries_its_payload_in_the_lake() -> None:
    sns, s3 = RecordingSns(), RecordingS3()
    payload = {"input": {"text": "é" * CLAIM_CHECK_BYTES}}

    HubPublisher("topic", "lake", sns, s3).publish(accepted(payload))  # type: ignore[arg-type]

    sent = HubEvent.model_validate_json(sns.published[0]["Message"])
    assert sent.payload is None
    assert sent.payload_ref == f"s3://lake/hub/r-1/{sent.event_id}.json"
    assert message_size(sns.published[0]["Message"], sent.attributes()) < 1024
    assert load_payload(sent, s3) == payload  # type: ignore[arg-type]


def test_a_message_just_under_the_claim_check_size_stays_inline() -> None:
    assert CLAIM_CHECK_BYTES < SNS_MESSAGE_LIMIT_BYTES
    sns, s3 = RecordingSns(), RecordingS3()
    event = accepted({"input": {"text": ""}})
    room = CLAIM_CHECK_BYTES - message_size(event.model_dump_json(), event.attributes())

    HubPublisher("topic", "lake", sns, s3).publish(accepted({"input": {"text": "x" * room}}))  # type: ignore[arg-type]

    assert json.loads(sns.published[0]["Message"])["payload_ref"] is None
    assert s3.objects == {}


def test_the_same_fact_always_gets_the_same_event_id() -> None:
    assert event_id_for("r-1", "invoke.completed") == event_id_for("r-1", "invoke.completed")
    assert event_id_for("r-1", "invoke.completed") != event_id_for("r-2", "invoke.completed")
    assert event_id_for("r-1", "customize.progress", 1) != event_id_for("r-1", "customize.progress", 2)


def test_an_event_carries_exactly_one_of_payload_and_payload_ref() -> None:
    fields = accepted({}).model_dump()

    with pytest.raises(ValidationError, match="exactly one of payload or payload_ref"):
        HubEvent.model_validate({**fields, "payload": None})
    with pytest.raises(ValidationError, match="exactly one of payload or payload_ref"):
        HubEvent.model_validate({**fields, "payload_ref": "s3://lake/hub/x.json"})


def test_a_subscriber_reads_the_event_inside_an_sns_notification() -> None:
    event = accepted({"input": {"prompt": "hi"}})
    body = json.dumps(
        {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": event.model_dump_json()}
    )

    assert parse_notification(body) == event


@pytest.mark.parametrize(
    "body", ["not json", json.dumps({"Type": "Notification"}), json.dumps({"Message": "{}"})]
)
def test_anything_else_is_refused_with_a_validation_error(body: str) -> None:
    with pytest.raises(ValidationError):
        parse_notification(body)
