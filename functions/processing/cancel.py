"""Cancel a preprocess or invoke request: mark it cancelled, then announce `<pipeline>.cancelled`.

Express executions cannot be stopped, and they finish in seconds. The mark keeps a trigger from
starting any stage the request has not reached yet (the invoke stage of a chained request, say),
and the catalog keeps the first terminal status it is told, so a run that finishes after the
cancellation is recorded in the request's history but neither changes its CANCELLED status nor
adds to the session's memory.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from contracts.events import Outcome, stage_event
from contracts.requests import FINAL_STAGE
from pipeline_kit.cancellation import CancellationMarks, CancellationSettings
from shared import aws
from shared.config import load_settings
from shared.hub import HubEvent, HubPublisher, new_event
from shared.observability import logger, metrics
from shared.subscriber import hub_subscriber


@cache
def hub() -> HubPublisher:
    settings = load_settings(CancellationSettings)
    return HubPublisher.for_topic(settings.HUB_TOPIC_ARN, settings.DATA_LAKE_BUCKET)


@cache
def cancellations() -> CancellationMarks:
    return CancellationMarks(load_settings(CancellationSettings).STARTS_TABLE, aws.dynamodb())


def cancel(event: HubEvent) -> None:
    cancellations().mark(event.request_id)
    hub().publish(
        new_event(
            event_type=stage_event(FINAL_STAGE[event.pipeline], Outcome.CANCELLED),
            request_id=event.request_id,
            pipeline=event.pipeline,
            source="processing",
            subject=event.subject,
            payload={"note": "a run already under way finishes, but its result no longer counts"},
        )
    )
    logger.info("request cancelled", extra={"request_id": event.request_id})
    metrics.add_metric(name="RequestsCancelled", unit=MetricUnit.Count, value=1)


lambda_handler = hub_subscriber(cancel)
