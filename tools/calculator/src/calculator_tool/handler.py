"""The calculator's Lambda handler: `tool.requested` in, the exact result (or why not) out."""

from __future__ import annotations

from typing import Any

from calculator_tool.arithmetic import CannotCompute, as_text, evaluate
from shared.tool import ToolError, serve_tool


def calculate(arguments: dict[str, Any], caller: str) -> str:
    expression = arguments.get("expression")
    if not isinstance(expression, str):
        raise ToolError('give the expression as a string: {"expression": "12 * 60"}')
    try:
        return f"{expression} = {as_text(evaluate(expression))}"
    except CannotCompute as error:
        raise ToolError(f"cannot compute {expression!r}: {error}") from error


lambda_handler = serve_tool(calculate)
