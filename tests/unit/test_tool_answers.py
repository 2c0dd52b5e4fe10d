"""The shared tool layer (functions/shared/tool.py): what every tool's answer is made of, whatever
the tool. Input is held to the tool's model strictly (a boolean is no number, an unknown field is
refused), a refusal never hands the model its own long input back, and a call knows its deadline."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

from agenthub.local.lambda_context import LambdaContext
from contracts.events import TOOL_COMPLETED, TOOL_FAILED
from contracts.tools import (
    EXCERPT_CHARACTERS,
    MAX_REFUSAL_CHARACTERS,
    ToolAnswer,
    ToolInput,
    excerpt,
)
from shared import tool
from shared.hub import HubEvent, new_event
from shared.tool import ToolError, answer, time_left


class EchoInput(ToolInput):
    text: str = Field(min_length=1)
    times: int = Field(default=1, ge=1, le=3)


class FakeHub:
    """A HubPublisher's interface, keeping what is published."""

    s3: Any = None

    def __init__(self) -> None:
        self.published: list[HubEvent] = []

    def publish(self, event: HubEvent) -> str:
        self.published.append(event)
        return event.event_id


def call(arguments: dict[str, Any]) -> HubEvent:
    return new_event(
        event_type="tool.requested",
        request_id="request-1",
        pipeline="agent",
        source="agent",
        subject="caller-1",
        tool="echo",
        sequence="call-1",
        payload={"call_id": "request-1#call-1", "tool": "echo", "input": arguments},
    )


def answered(arguments: dict[str, Any], act: Any = None) -> tuple[ToolAnswer, FakeHub, list[EchoInput]]:
    hub, seen = FakeHub(), []

    def echo(given: EchoInput, caller: str) -> str:
        seen.append(given)
        return " ".join([given.text] * given.times)

    result = answer(call(arguments), act or echo, EchoInput, hub, "echo")  # type: ignore[arg-type]
    return result, hub, seen


def test_valid_input_reaches_the_tool_as_its_model_and_is_answered_through_the_hub() -> None:
    result, hub, seen = answered({"text": "hi", "times": 2})

    assert (result.status, result.text) == ("success", "hi hi")
    assert seen == [EchoInput(text="hi", times=2)]
    (published,) = hub.published
    assert published.event_type == TOOL_COMPLETED
    assert published.payload is not None
    assert published.payload["call_id"] == "request-1#call-1"


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"text": "hi", "times": True}, "times: Input should be a valid integer"),
        ({"text": "hi", "times": "2"}, "times: Input should be a valid integer"),
        ({"text": "hi", "times": 2.0}, "times: Input should be a valid integer"),
        ({"text": 5}, "text: Input should be a valid string"),
        ({"text": "hi", "time": 2}, "time: Extra inputs are not permitted"),
        ({}, "text: Field required"),
        ({"text": "hi", "times": 9}, "times: Input should be less than or equal to 3"),
    ],
)
def test_input_off_the_model_is_refused_naming_the_field_and_the_tool_never_runs(
    arguments: dict[str, Any], problem: str
) -> None:
    result, hub, seen = answered(arguments)

    assert result.status == "error"
    assert result.text.startswith("the input is not valid: ")
    assert problem in result.text
    assert seen == []  # the tool never ran on it
    assert [event.event_type for event in hub.published] == [TOOL_FAILED]


def test_a_refusal_quotes_a_long_input_only_as_an_excerpt_whatever_the_tool_wrote() -> None:
    long = "x" * 1_000_000

    def refuse(given: EchoInput, caller: str) -> str:
        raise ToolError(f"cannot take {given.text!r}, nor {given.text}, nor {given.text[:5000]}")

    result, _, _ = answered({"text": long}, refuse)

    assert result.status == "error"
    assert len(result.text) <= MAX_REFUSAL_CHARACTERS + len("… [cut]")
    assert result.text.startswith(f"cannot take {excerpt(long)!r}, nor {excerpt(long)}, nor ")
    assert "x" * (EXCERPT_CHARACTERS + 1) not in result.text.split("nor ")[1]


def test_a_long_unknown_field_is_named_by_its_excerpt() -> None:
    result, _, _ = answered({"text": "hi", "k" * 100_000: 1})

    assert result.status == "error"
    assert len(result.text) < 200


def test_a_successful_answer_is_not_shortened_to_an_excerpt() -> None:
    result, _, _ = answered({"text": "y" * 500})

    assert (result.status, result.text) == ("success", "y" * 500)


def test_a_tool_that_crashes_is_answered_by_the_type_of_its_error_only() -> None:
    def crash(given: EchoInput, caller: str) -> str:
        raise KeyError("internal-table-name")

    result, _, _ = answered({"text": "hi"}, crash)

    assert (result.status, result.text) == ("error", "the tool echo failed (KeyError)")


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=300),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=2000)
        | st.lists(st.text()),
        max_size=4,
    )
)
def test_any_input_is_answered_as_the_tool_or_a_short_refusal_never_a_crash(
    arguments: dict[str, Any],
) -> None:
    result, hub, seen = answered(arguments)

    assert len(hub.published) == 1
    if result.status == "error":
        assert result.text.startswith("the input is not valid: ")
        assert len(result.text) <= MAX_REFUSAL_CHARACTERS + len("… [cut]")
        assert seen == []
    else:
        assert isinstance(arguments.get("text"), str)
        assert not isinstance(arguments.get("times", 1), bool)


def test_a_call_knows_how_long_it_may_still_work_from_its_own_invocation() -> None:
    tool._start_invocation(LambdaContext.starting_now(timeout_seconds=5))  # type: ignore[arg-type]
    try:
        left = time_left()
        assert 5 - tool.ANSWER_MARGIN_SECONDS - 1 < left <= 5 - tool.ANSWER_MARGIN_SECONDS

        tool._start_invocation(LambdaContext.starting_now(timeout_seconds=1))  # type: ignore[arg-type]
        assert time_left() == 0  # less than the margin: answer at once
    finally:
        tool._deadline.at = None
