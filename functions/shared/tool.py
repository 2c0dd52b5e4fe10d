"""A tool stack's Lambda handler: answers `tool.requested` for one tool with `tool.completed` or
`tool.failed`, through the hub. Comes to tool stacks in the hub library layer.

A tool writes only `act(arguments, caller)`: what to do for this caller with these arguments, as
text for the model. `ToolError` is an answer too ("the expression divides by zero"): the model
gets it as an error result and can try again. Any other exception is answered as a failure of the
tool, by its type only (no stack trace reaches the model or the caller), and logged in full.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from contracts.events import TOOL_COMPLETED, TOOL_FAILED
from contracts.tools import MAX_ANSWER_CHARACTERS, ToolAnswer, ToolCall
from shared.config import HubSettings, load_settings
from shared.hub import HubEvent, HubPublisher, load_payload, new_event
from shared.observability import logger, metrics
from shared.subscriber import Handler, hub_subscriber

Act = Callable[[dict[str, Any], str], str]


class ToolError(Exception):
    """What the tool answers when it cannot do what was asked; the message is for the model."""


class ToolSettings(HubSettings):
    TOOL_NAME: str


@cache
def _hub() -> HubPublisher:
    settings = load_settings(ToolSettings)
    return HubPublisher.for_topic(settings.HUB_TOPIC_ARN, settings.DATA_LAKE_BUCKET)


def answer(event: HubEvent, act: Act, hub: HubPublisher, name: str) -> ToolAnswer:
    call = ToolCall.model_validate(load_payload(event, hub.s3))
    started = time.monotonic()
    try:
        status, text = "success", act(call.input, event.subject)
    except ToolError as error:
        status, text = "error", str(error)
    except Exception as error:  # answered, not retried: the model can decide to call again
        logger.exception("the tool failed", extra={"call_id": call.call_id})
        status, text = "error", f"the tool {name} failed ({type(error).__name__})"
    if len(text) > MAX_ANSWER_CHARACTERS:
        text = text[:MAX_ANSWER_CHARACTERS] + " … [cut]"
    result = ToolAnswer(
        call_id=call.call_id,
        tool=name,
        status=status,
        text=text,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    hub.publish(
        new_event(
            event_type=TOOL_COMPLETED if status == "success" else TOOL_FAILED,
            request_id=event.request_id,
            pipeline=event.pipeline,
            source=f"tool:{name}",
            subject=event.subject,
            tool=name,
            sequence=call.call_id,
            payload=result.model_dump(),
        )
    )
    outcome = "ToolCallsAnswered" if status == "success" else "ToolCallsFailed"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    return result


def serve_tool(act: Act) -> Handler:
    """The Lambda handler of a tool whose work is `act`; its name is the function's TOOL_NAME."""
    return hub_subscriber(lambda event: answer(event, act, _hub(), load_settings(ToolSettings).TOOL_NAME))
