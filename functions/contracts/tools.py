"""What agents and tool stacks agree on: a tool's spec, a call to it, and its answer.

A tool stack registers its spec through the hub when it is deployed (`tool_registry.registered`)
and withdraws it when it is deleted (`tool_registry.withdrawn`); the core writer keeps the registry in the
catalog. An agent asks a tool with `tool.requested` (the `tool` message attribute names it, so a
tool's subscription filters on it) and the tool answers `tool.completed` or `tool.failed`, with the
call's id, acting only for the request's caller (the envelope's `subject`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Bedrock's toolSpec names: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolSpecification.html
TOOL_NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$"
# What one tool answer may hand back to the model; longer text is cut, saying so.
MAX_ANSWER_CHARACTERS = 16_000


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str = Field(min_length=1, max_length=2000)
    input_schema: dict[str, Any] = Field(description="JSON Schema of the tool's input (an object).")


class ToolCall(BaseModel):
    """The payload of `tool.requested`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    call_id: str = Field(min_length=1, max_length=256)
    tool: str = Field(pattern=TOOL_NAME_PATTERN)
    input: dict[str, Any] = Field(default_factory=dict)


class ToolAnswer(BaseModel):
    """The payload of `tool.completed` (status success) and `tool.failed` (status error)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    call_id: str
    tool: str
    status: Literal["success", "error"]
    text: str = Field(description="What the model is given: the result, or what went wrong.")
    duration_ms: int = Field(default=0, ge=0)
