"""Publishing to the hub from a state machine: one task every pipeline uses to announce its progress.

The state machine names the fact (`event_type`), the request it belongs to and the payload; this
builds the envelope with the one hub module (claim check included) and publishes it. Event ids
are derived from request, type and sequence, so a retried publish is dropped by every consumer.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from shared.config import HubSettings, load_settings
from shared.hub import EVENT_TYPE_PATTERN, HubPublisher, RequestRef, new_event
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


class PublisherSettings(HubSettings):
    HUB_SOURCE: str


class Announcement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: str = Field(pattern=EVENT_TYPE_PATTERN)
    request: RequestRef
    payload: dict[str, Any] = Field(default_factory=dict)
    sequence: int | str = ""


@cache
def publisher() -> HubPublisher:
    settings = load_settings(PublisherSettings)
    return HubPublisher.for_topic(settings.HUB_TOPIC_ARN, settings.DATA_LAKE_BUCKET)


def announce(announcement: Announcement, hub: HubPublisher, source: str) -> dict[str, str]:
    event = new_event(
        event_type=announcement.event_type,
        request_id=announcement.request.request_id,
        pipeline=announcement.request.pipeline,
        source=source,
        subject=announcement.request.subject,
        payload=announcement.payload,
        sequence=announcement.sequence,
    )
    message_id = hub.publish(event)
    logger.info("announced", extra={"event_type": event.event_type, "request_id": event.request_id})
    metrics.add_metric(name="Announcements", unit=MetricUnit.Count, value=1)
    return {"event_id": event.event_id, "message_id": message_id}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    return announce(
        Announcement.model_validate(event), publisher(), load_settings(PublisherSettings).HUB_SOURCE
    )
