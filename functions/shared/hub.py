"""The hub envelope: the one module that builds, publishes and parses every hub message.

Every message is a `HubEvent`. Its filterable fields also travel as SNS message attributes so
subscriptions can filter without reading the body. A message that would pass the SNS size limit
carries its payload in the data lake instead (`payload_ref`, the claim-check pattern).
The claim check starts well below SNS's 256 KiB: a pipeline carries the message that started it
in its state (256 KiB at most), and a few KiB of envelope leave room for everything else.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient

SCHEMA_VERSION: Final = 1
# SNS counts the body and every attribute name, type and value against 256 KiB.
SNS_MESSAGE_LIMIT_BYTES = 256 * 1024
CLAIM_CHECK_BYTES = 32 * 1024
CLAIM_CHECK_PREFIX = "hub/"
EVENT_TYPE_PATTERN = r"^[a-z][a-z_]*\.[a-z][a-z_]*$"
# Deterministic event ids: the same fact published twice (a retried task, a redelivered trigger)
# carries the same event_id, so every consumer's dedupe on event_id catches it.
_EVENT_ID_NAMESPACE = uuid.UUID("6f1d8f0e-52c4-4b8e-9a55-3f0a4c7d2b10")


class HubEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(min_length=1, max_length=64)
    event_type: str = Field(pattern=EVENT_TYPE_PATTERN)
    request_id: str = Field(min_length=1, max_length=64)
    pipeline: str = Field(min_length=1, max_length=32)
    source: str = Field(min_length=1, max_length=64)
    subject: str = Field(min_length=1, max_length=128, description="The caller's Cognito sub.")
    occurred_at: datetime
    schema_version: Literal[1] = SCHEMA_VERSION
    first_stage: str | None = Field(
        default=None, description="On request.accepted: the stage that picks the request up."
    )
    tool: str | None = Field(default=None, max_length=64, description="On tool.*: the tool it is about.")
    payload: dict[str, Any] | None = None
    payload_ref: str | None = Field(default=None, pattern=r"^s3://[^/]+/.+$")

    @model_validator(mode="after")
    def _one_payload(self) -> HubEvent:
        if (self.payload is None) == (self.payload_ref is None):
            raise ValueError("a hub event carries exactly one of payload or payload_ref")
        return self

    @property
    def stage(self) -> str:
        return self.event_type.split(".", 1)[0]

    @property
    def outcome(self) -> str:
        return self.event_type.split(".", 1)[1]

    def attributes(self) -> dict[str, str]:
        """The fields subscriptions filter on."""
        attributes = {
            "event_type": self.event_type,
            "pipeline": self.pipeline,
            "source": self.source,
            "schema_version": str(self.schema_version),
        }
        if self.first_stage:
            attributes["first_stage"] = self.first_stage
        if self.tool:
            attributes["tool"] = self.tool
        return attributes


class RequestRef(BaseModel):
    """The request an announcement or a task belongs to (a hub event itself will do)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    request_id: str
    pipeline: str
    subject: str


class HubEventTask(BaseModel):
    """A state machine task's input: the hub event that started the pipeline (`{"event": ...}`)."""

    model_config = ConfigDict(extra="ignore")

    event: HubEvent


def event_id_for(request_id: str, event_type: str, sequence: int | str = "") -> str:
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{request_id}|{event_type}|{sequence}"))


def new_event(
    *,
    event_type: str,
    request_id: str,
    pipeline: str,
    source: str,
    subject: str,
    payload: dict[str, Any],
    sequence: int | str = "",
    first_stage: str | None = None,
    tool: str | None = None,
    occurred_at: datetime | None = None,
) -> HubEvent:
    return HubEvent(
        event_id=event_id_for(request_id, event_type, sequence),
        event_type=event_type,
        request_id=request_id,
        pipeline=pipeline,
        source=source,
        subject=subject,
        occurred_at=occurred_at or datetime.now(UTC),
        first_stage=first_stage,
        tool=tool,
        payload=payload,
    )


def _sns_attributes(event: HubEvent) -> dict[str, Any]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in event.attributes().items()}


def message_size(body: str, attributes: dict[str, str]) -> int:
    size = len(body.encode())
    for name, value in attributes.items():
        size += len(name.encode()) + len(b"String") + len(value.encode())
    return size


class HubPublisher:
    """Publishes envelopes to the hub topic, moving oversized payloads to the data lake first."""

    def __init__(self, topic_arn: str, bucket: str, sns: SNSClient, s3: S3Client) -> None:
        self._topic_arn = topic_arn
        self._bucket = bucket
        self._sns = sns
        self._s3 = s3

    @property
    def s3(self) -> S3Client:
        """The client claim checks travel through, both ways."""
        return self._s3

    @classmethod
    def for_topic(cls, topic_arn: str, bucket: str) -> HubPublisher:
        """A publisher with the execution environment's own SNS and S3 clients."""
        from shared import aws

        return cls(topic_arn, bucket, aws.sns(), aws.s3())

    def publish(self, event: HubEvent) -> str:
        body = event.model_dump_json()
        if message_size(body, event.attributes()) > CLAIM_CHECK_BYTES:
            event = self._claim_check(event)
            body = event.model_dump_json()
        response = self._sns.publish(
            TopicArn=self._topic_arn, Message=body, MessageAttributes=_sns_attributes(event)
        )
        return response["MessageId"]

    def _claim_check(self, event: HubEvent) -> HubEvent:
        key = f"{CLAIM_CHECK_PREFIX}{event.request_id}/{event.event_id}.json"
        # The key is derived from event_id, so a retried publish rewrites the same object.
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=json.dumps(event.payload).encode(),
            ContentType="application/json",
        )
        return event.model_copy(update={"payload": None, "payload_ref": f"s3://{self._bucket}/{key}"})


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def load_payload(event: HubEvent, s3: S3Client) -> dict[str, Any]:
    """The event's payload, fetched from the data lake when it travelled as a claim check."""
    if event.payload is not None:
        return event.payload
    # The model validator guarantees a payload_ref here (no assert: `python -O` would drop it).
    bucket, key = split_s3_uri(event.payload_ref or "")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    payload: dict[str, Any] = json.loads(body)
    return payload


class SnsNotification(BaseModel):
    """The SNS notification that wraps a hub message in an SQS body (raw delivery off).

    Powertools' SnsNotificationModel would do, but importing its parser models package loads every
    event model Powertools has (~0.2 s of cold start here); this is the part subscribers read.
    """

    model_config = ConfigDict(extra="ignore")

    Type: Literal["Notification"]
    MessageId: str
    TopicArn: str
    Message: str


def parse_notification(sqs_body: str) -> HubEvent:
    """The hub event inside an SQS message body delivered by an SNS subscription."""
    notification = SnsNotification.model_validate_json(sqs_body)
    return HubEvent.model_validate_json(notification.Message)
