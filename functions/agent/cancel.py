"""Cancel an agent run: mark it, stop its execution (no new turn starts; calls still waiting on a
tool are abandoned, and their late answers resume nothing), then announce `agent.cancelled`."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from contracts.events import Outcome, Stage, stage_event
from pipeline_kit.cancellation import CancellationMarks, CancellationSettings
from shared import aws
from shared.config import load_settings
from shared.hub import HubEvent, HubPublisher, new_event
from shared.naming import execution_name
from shared.observability import logger, metrics
from shared.subscriber import hub_subscriber


class AgentCancelSettings(CancellationSettings):
    STATE_MACHINE_ARN: str


def cancel(
    event: HubEvent, settings: AgentCancelSettings, marks: CancellationMarks, hub: HubPublisher
) -> None:
    marks.mark(event.request_id)  # the trigger will not start it, if it has not yet
    executions = settings.STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")
    sfn = aws.stepfunctions()
    try:
        sfn.stop_execution(
            executionArn=f"{executions}:{execution_name(event.request_id, Stage.AGENT)}",
            error="Cancelled",
            cause="the caller cancelled the request",
        )
        stopped = True
    except sfn.exceptions.ExecutionDoesNotExist:
        stopped = False
    hub.publish(
        new_event(
            event_type=stage_event(Stage.AGENT, Outcome.CANCELLED),
            request_id=event.request_id,
            pipeline=event.pipeline,
            source="agent",
            subject=event.subject,
            payload={"stopped_a_running_agent": stopped},
        )
    )
    logger.info("agent run cancelled", extra={"request_id": event.request_id, "stopped": stopped})
    metrics.add_metric(name="AgentRunsCancelled", unit=MetricUnit.Count, value=1)


@cache
def settings() -> AgentCancelSettings:
    return load_settings(AgentCancelSettings)


@cache
def hub() -> HubPublisher:
    return HubPublisher.for_topic(settings().HUB_TOPIC_ARN, settings().DATA_LAKE_BUCKET)


lambda_handler = hub_subscriber(
    lambda event: cancel(event, settings(), CancellationMarks(settings().STARTS_TABLE, aws.dynamodb()), hub())
)
