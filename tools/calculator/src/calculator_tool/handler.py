"""The calculator's Lambda handler: `tool.requested` in, the exact result (or why not) out."""

from __future__ import annotations

from pydantic import Field

from calculator_tool.arithmetic import MAX_EXPRESSION_CHARACTERS, CannotCompute, as_text, evaluate
from contracts.tools import ToolInput, quoted
from shared.tool import ToolError, serve_tool


class CalculatorInput(ToolInput):
    """What the calculator takes; its registered InputSchema (template.yaml) says the same."""

    expression: str = Field(
        min_length=1,
        max_length=MAX_EXPRESSION_CHARACTERS,
        description="The arithmetic expression, for example: (12 + 3) * 60 / 7",
    )


def calculate(arguments: CalculatorInput, caller: str) -> str:
    try:
        return f"{arguments.expression} = {as_text(evaluate(arguments.expression))}"
    except CannotCompute as error:
        raise ToolError(f"cannot compute {quoted(arguments.expression)}: {error}") from error


lambda_handler = serve_tool(calculate, CalculatorInput)
