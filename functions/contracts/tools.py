"""What agents and tool stacks agree on: a tool's spec, a call to it, and its answer.

A tool stack registers its spec through the hub when it is deployed (`tool_registry.registered`)
and withdraws it when it is deleted (`tool_registry.withdrawn`); the core writer keeps the registry in the
catalog. An agent asks a tool with `tool.requested` (the `tool` message attribute names it, so a
tool's subscription filters on it) and the tool answers `tool.completed` or `tool.failed`, with the
call's id, acting only for the request's caller (the envelope's `subject`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Bedrock's toolSpec names: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolSpecification.html
TOOL_NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$"
# What one tool answer may hand back to the model; longer text is cut, saying so.
MAX_ANSWER_CHARACTERS = 16_000
# What a refusal quotes of the model's own input: enough to know which, never the whole of it (a
# refused 1 MB expression echoed back would be 16,000 characters of the model's context).
EXCERPT_CHARACTERS = 80
# A refusal says what went wrong in a few sentences; anything longer is cut, saying so.
MAX_REFUSAL_CHARACTERS = 1_000


def excerpt(text: str, limit: int = EXCERPT_CHARACTERS) -> str:
    """Text as a refusal may quote it: whole when short, else its first `limit` characters and "…"."""
    return text if len(text) <= limit else text[:limit] + "…"


def quoted(text: str) -> str:
    """`excerpt(text)` in quotes, as Python writes a string (so spaces and quotes in it show)."""
    return repr(excerpt(text))


class ToolInput(BaseModel):
    """The base of every tool's input model: what the model may send, and nothing else.

    Strict: a field is what its type says, never converted (pydantic would take `true` for 1 and
    `"5"` for 5); unknown fields are refused, so a misspelt argument is an error the model sees
    rather than one silently ignored. The tool's registered JSON Schema says the same (each tool's
    tests compare the two).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @classmethod
    def registered_schema(cls) -> dict[str, Any]:
        """The JSON Schema a tool stack registers for this input (its `Custom::HubTool`'s
        InputSchema): the model's own, without the titles pydantic adds and the class's docstring."""

        def untitled(schema: Any) -> Any:
            if isinstance(schema, dict):
                # A title is a string; a property named "title" is a schema (a dict), and stays.
                return {
                    key: untitled(value)
                    for key, value in schema.items()
                    if not (key == "title" and isinstance(value, str))
                }
            if isinstance(schema, list):
                return [untitled(item) for item in schema]
            return schema

        schema: dict[str, Any] = untitled(cls.model_json_schema())
        schema.pop("description", None)
        return schema


def input_problems(error: ValidationError) -> str:
    """A validation error as the model can act on it: each field and what is wrong with it, without
    the values (the model's own input, which may be long)."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or "input"
        problems.append(f"{excerpt(field, 40)}: {item['msg']}")
    return "the input is not valid: " + "; ".join(problems)


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
