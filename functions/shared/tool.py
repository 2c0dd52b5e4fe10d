"""A tool stack's Lambda handler: answers `tool.requested` for one tool with `tool.completed` or
`tool.failed`, through the hub. Comes to tool stacks in the hub library layer.

A tool writes only its input model (a `ToolInput`: what the model may send) and
`act(arguments, caller)`: what to do for this caller with these arguments, as text for the model.
Input off the model is refused before `act` runs, naming each field and what is wrong with it.
`ToolError` is an answer too ("the expression divides by zero"): the model gets it as an error
result and can try again. Any other exception is answered as a failure of the tool, by its type
only (no stack trace reaches the model or the caller), and logged in full.

A refusal never hands the model's own input back whole: whatever a tool's message says, a string
of the call's input longer than `EXCERPT_CHARACTERS` that appears in it is replaced by its excerpt,
and a refusal is cut at `MAX_REFUSAL_CHARACTERS`.

`time_left()` is how long the call may still work before its answer must be on its way: a tool
whose work grows with its input (a search over many documents) stops there and answers with what
it has, rather than being killed at its timeout (which would answer nothing, and be retried).
Each call is its own invocation (the tool stacks' event sources take one message at a time), so
the deadline is the call's own, never shared with other callers' calls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from contracts.events import TOOL_COMPLETED, TOOL_FAILED
from contracts.tools import (
    EXCERPT_CHARACTERS,
    MAX_ANSWER_CHARACTERS,
    MAX_REFUSAL_CHARACTERS,
    ToolAnswer,
    ToolCall,
    ToolInput,
    excerpt,
    input_problems,
)
from shared.config import HubSettings, load_settings
from shared.hub import HubEvent, HubPublisher, load_payload, new_event
from shared.observability import logger, metrics
from shared.subscriber import Handler, hub_subscriber

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

Input = TypeVar("Input", bound=ToolInput)
Act = Callable[[Input, str], str]
# Kept for answering through the hub once a tool stops working: a publish (and a claim check for a
# long answer) takes well under this.
ANSWER_MARGIN_SECONDS = 1.5
# When no invocation says otherwise (a test calling `answer` directly): as long as a tool's default timeout.
DEFAULT_SECONDS = 30.0


class ToolError(Exception):
    """What the tool answers when it cannot do what was asked; the message is for the model."""


class ToolSettings(HubSettings):
    TOOL_NAME: str


class _Deadline:
    """When the current invocation's answer must be on its way (time.monotonic())."""

    at: float | None = None


_deadline = _Deadline()


def time_left() -> float:
    """Seconds this call may still work before it must answer (never negative)."""
    at = _deadline.at if _deadline.at is not None else time.monotonic() + DEFAULT_SECONDS
    return max(0.0, at - time.monotonic())


def _start_invocation(context: LambdaContext) -> None:
    seconds = context.get_remaining_time_in_millis() / 1000
    _deadline.at = time.monotonic() + max(0.0, seconds - ANSWER_MARGIN_SECONDS)


@cache
def _hub() -> HubPublisher:
    settings = load_settings(ToolSettings)
    return HubPublisher.for_topic(settings.HUB_TOPIC_ARN, settings.DATA_LAKE_BUCKET)


def _strings(value: Any) -> Iterator[str]:
    """Every string in a call's input (keys too), however it is nested."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def refusal(text: str, arguments: dict[str, Any]) -> str:
    """A refusal's text with no long piece of the model's input in it, and short."""
    for value in sorted(set(_strings(arguments)), key=len, reverse=True):  # a longer one may hold a shorter
        if len(value) > EXCERPT_CHARACTERS:
            short = excerpt(value)
            for form, replacement in ((repr(value), repr(short)), (json.dumps(value), json.dumps(short))):
                text = text.replace(form, replacement)
            text = text.replace(value, short)
    if len(text) > MAX_REFUSAL_CHARACTERS:
        text = text[:MAX_REFUSAL_CHARACTERS] + "… [cut]"
    return text


def answer(
    event: HubEvent, act: Act[Input], input_model: type[Input], hub: HubPublisher, name: str
) -> ToolAnswer:
    call = ToolCall.model_validate(load_payload(event, hub.s3))
    started = time.monotonic()
    try:
        arguments = input_model.model_validate(call.input)
    except ValidationError as error:
        status, text = "error", input_problems(error)
    else:
        try:
            status, text = "success", act(arguments, event.subject)
        except ToolError as error:
            status, text = "error", str(error)
        except Exception as error:  # answered, not retried: the model can decide to call again
            logger.exception("the tool failed", extra={"call_id": call.call_id})
            status, text = "error", f"the tool {name} failed ({type(error).__name__})"
    if status == "error":
        text = refusal(text, call.input)
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


def serve_tool(act: Act[Input], input_model: type[Input]) -> Handler:
    """The Lambda handler of a tool whose work is `act` on input `input_model`; its name is the
    function's TOOL_NAME."""
    return hub_subscriber(
        lambda event: answer(event, act, input_model, _hub(), load_settings(ToolSettings).TOOL_NAME),
        before=_start_invocation,
    )
