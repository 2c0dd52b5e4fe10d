"""Ask a tool through the hub: a Step Functions callback task of the agent run (`agent.tool_calls`)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from agent.tool_calls import PendingCalls, call_id, pending_calls
from contracts.catalog import ToolRegistry
from contracts.events import TOOL_REQUESTED
from contracts.tools import ToolCall
from shared import aws
from shared.config import HubSettings, load_settings
from shared.hub import HubPublisher, RequestRef, new_event
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

SOURCE = "agent"


class RequestToolSettings(HubSettings):
    AGENT_RUNS_TABLE: str
    CATALOG_TABLE: str


class ToolUnavailable(ValueError):
    """The model asked for a tool that is not (or no longer) registered: the model is told."""


class ToolUse(BaseModel):
    """A tool use block of the model's reply, as Step Functions hands it over."""

    model_config = ConfigDict(extra="ignore")

    ToolUseId: str = Field(min_length=1, max_length=64)
    Name: str
    Input: dict[str, Any] = Field(default_factory=dict)


class ToolRequestTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str = Field(min_length=1)
    call: ToolUse
    request: RequestRef


def request_tool(
    task: ToolRequestTask, calls: PendingCalls, registry: ToolRegistry, hub: HubPublisher
) -> None:
    if task.call.Name not in registry.available():
        raise ToolUnavailable(f"the tool {task.call.Name!r} is not registered (any more)")
    call = call_id(task.request.request_id, task.call.ToolUseId)
    calls.wait_for(call, task.token, task.call.ToolUseId, task.call.Name)
    hub.publish(
        new_event(
            event_type=TOOL_REQUESTED,
            request_id=task.request.request_id,
            pipeline=task.request.pipeline,
            source=SOURCE,
            subject=task.request.subject,
            tool=task.call.Name,
            sequence=task.call.ToolUseId,
            payload=ToolCall(call_id=call, tool=task.call.Name, input=task.call.Input).model_dump(),
        )
    )
    metrics.add_metric(name="ToolCallsRequested", unit=MetricUnit.Count, value=1)


@cache
def hub() -> HubPublisher:
    settings = load_settings(RequestToolSettings)
    return HubPublisher.for_topic(settings.HUB_TOPIC_ARN, settings.DATA_LAKE_BUCKET)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings(RequestToolSettings)
    registry = ToolRegistry(settings.CATALOG_TABLE, aws.dynamodb())
    request_tool(
        ToolRequestTask.model_validate(event), pending_calls(settings.AGENT_RUNS_TABLE), registry, hub()
    )
    return {}
