"""The calculator as the model meets it: its input held to the registered schema, and its refusals
short whatever it was sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agenthub.template import load_sam_template
from calculator_tool.arithmetic import MAX_DIGITS
from calculator_tool.handler import CalculatorInput, calculate
from contracts.tools import EXCERPT_CHARACTERS, ToolAnswer
from shared.hub import HubEvent, new_event
from shared.tool import answer

TEMPLATE = Path(__file__).parents[1] / "template.yaml"


class FakeHub:
    s3: Any = None

    def __init__(self) -> None:
        self.published: list[HubEvent] = []

    def publish(self, event: HubEvent) -> str:
        self.published.append(event)
        return event.event_id


def ask(arguments: dict[str, Any]) -> ToolAnswer:
    event = new_event(
        event_type="tool.requested",
        request_id="request-1",
        pipeline="agent",
        source="agent",
        subject="caller-1",
        tool="calculator",
        sequence="call-1",
        payload={"call_id": "request-1#call-1", "tool": "calculator", "input": arguments},
    )
    hub = FakeHub()
    result = answer(event, calculate, CalculatorInput, hub, "calculator")  # type: ignore[arg-type]
    assert len(hub.published) == 1
    return result


def test_the_registered_input_schema_is_the_input_model_the_function_holds_calls_to() -> None:
    registration = load_sam_template(TEMPLATE)["Resources"]["CalculatorRegistration"]["Properties"]

    assert isinstance(registration["InputSchema"], str)  # JSON text, which CloudFormation keeps whole
    assert json.loads(registration["InputSchema"]) == CalculatorInput.registered_schema()


def test_an_expression_is_answered_exactly() -> None:
    assert (
        ask({"expression": "(12 + 3) * 60 / 7"}).text
        == "(12 + 3) * 60 / 7 = 900/7 (≈ 128.57142857142857142857)"
    )


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"expression": 12}, "expression: Input should be a valid string"),
        ({"expression": True}, "expression: Input should be a valid string"),
        ({}, "expression: Field required"),
        ({"expression": ""}, "expression: String should have at least 1 character"),
        ({"expression": "1 + 1", "precision": 3}, "precision: Extra inputs are not permitted"),
    ],
)
def test_input_off_the_schema_is_refused_naming_the_field(arguments: dict[str, Any], problem: str) -> None:
    result = ask(arguments)

    assert result.status == "error"
    assert problem in result.text


def test_a_megabyte_expression_is_refused_without_being_echoed() -> None:
    result = ask({"expression": "1+" * 500_000 + "1"})

    assert result.status == "error"
    assert result.text == "the input is not valid: expression: String should have at most 500 characters"


def test_a_refused_expression_is_quoted_as_an_excerpt() -> None:
    expression = "10 ** 399 * " + " * ".join(["10"] * 95)  # 487 characters
    assert len(expression) <= 500

    result = ask({"expression": expression})

    assert result.status == "error"
    assert result.text.startswith(f"cannot compute {expression[:EXCERPT_CHARACTERS] + '…'!r}: ")
    assert result.text.endswith(f"digits; the limit is {MAX_DIGITS}")
    assert len(result.text) < 200


@pytest.mark.parametrize("expression", ["1e999999999", "9e99999999**9", "(10**399)**1000", "9**9**9"])
def test_an_expression_too_large_to_compute_is_a_refusal_naming_the_limit_not_a_failure(
    expression: str,
) -> None:
    result = ask({"expression": expression})

    assert result.status == "error"
    assert "would have about" in result.text
    assert f"the limit is {MAX_DIGITS}" in result.text
    assert "failed" not in result.text
