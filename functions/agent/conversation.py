"""An agent run's conversation, turn by turn: pure functions, no I/O.

The run's state travels in the Step Functions execution (256 KiB at most), so everything here is
bounded: each tool answer, the transcript of tool calls, and the conversation itself, which drops
its oldest tool exchanges (keeping the question) when it outgrows its budget.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from contracts.tools import MAX_ANSWER_CHARACTERS, ToolSpec
from shared.hub import RequestRef
from shared.memory import Turn, history_within, size, text_message

# What the conversation may take of the execution's 256 KiB; the rest is the run's other fields
# and the model's reply as it arrives.
CONVERSATION_BUDGET_BYTES = 150 * 1024
TRANSCRIPT_ENTRIES = 40
TRANSCRIPT_TEXT = 300  # characters of a call's input or answer in the transcript


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    def plus(self, reply_usage: dict[str, Any]) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + int(reply_usage.get("InputTokens", 0)),
            output_tokens=self.output_tokens + int(reply_usage.get("OutputTokens", 0)),
            total_tokens=self.total_tokens + int(reply_usage.get("TotalTokens", 0)),
        )


class Run(BaseModel):
    """The state of one agent run, as the state machine carries it from turn to turn."""

    request: RequestRef
    model_id: str
    prompt: str
    session_id: str | None = None
    system: list[dict[str, Any]] = Field(default_factory=list)
    messages: list[dict[str, Any]]
    tool_config: dict[str, Any] | None = None
    inference: dict[str, Any]
    max_turns: int
    deadline_ms: int
    turn: int = 0
    tool_calls: int = 0
    transcript: list[dict[str, Any]] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    dropped_turns: int = 0
    history_turns: int = 0


def tool_config(specs: list[ToolSpec]) -> dict[str, Any] | None:
    """Converse's toolConfig, in Step Functions' (PascalCase) shape; None when no tool is offered."""
    if not specs:
        return None
    return {
        "Tools": [
            {
                "ToolSpec": {
                    "Name": spec.name,
                    "Description": spec.description,
                    "InputSchema": {"Json": spec.input_schema},
                }
            }
            for spec in specs
        ]
    }


def start(
    *,
    request: RequestRef,
    model_id: str,
    prompt: str,
    system_prompt: str | None,
    session_id: str | None,
    inference: dict[str, Any],
    max_turns: int,
    deadline_ms: int,
    tools: list[ToolSpec],
    turns: list[Turn],
) -> Run:
    question = text_message("user", prompt)
    history = history_within(turns, CONVERSATION_BUDGET_BYTES // 2 - size(question))
    return Run(
        request=request,
        model_id=model_id,
        prompt=prompt,
        session_id=session_id,
        system=[{"Text": system_prompt}] if system_prompt else [],
        messages=[*history, question],
        tool_config=tool_config(tools),
        inference=inference,
        max_turns=max_turns,
        deadline_ms=deadline_ms,
        history_turns=len(history) // 2,
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more characters cut]"


def fold_answers(run: Run, reply: dict[str, Any], answers: list[dict[str, Any]]) -> Run:
    """The run after the model asked for tools (`reply`, Converse's output) and they answered."""
    assistant = reply["Output"]["Message"]
    calls = {
        block["ToolUse"]["ToolUseId"]: block["ToolUse"]
        for block in assistant.get("Content", [])
        if "ToolUse" in block
    }
    results = []
    transcript = list(run.transcript)
    for answer in answers:
        call = calls.get(answer["ToolUseId"], {})
        text = _cut(str(answer.get("text", "")), MAX_ANSWER_CHARACTERS)
        status = "success" if answer.get("status") == "success" else "error"
        results.append(
            {"ToolResult": {"ToolUseId": answer["ToolUseId"], "Content": [{"Text": text}], "Status": status}}
        )
        transcript.append(
            {
                "turn": run.turn + 1,
                "tool": call.get("Name", answer.get("tool", "")),
                "input": _cut(json.dumps(call.get("Input", {}), ensure_ascii=False), TRANSCRIPT_TEXT),
                "outcome": status,
                "answer": _cut(text, TRANSCRIPT_TEXT),
                "duration_ms": int(answer.get("duration_ms", 0)),
            }
        )
    messages = [
        *run.messages,
        {"Role": "assistant", "Content": assistant["Content"]},
        {"Role": "user", "Content": results},
    ]
    messages, dropped = _within_budget(messages, first=run.history_turns * 2)
    return run.model_copy(
        update={
            "messages": messages,
            "turn": run.turn + 1,
            "tool_calls": run.tool_calls + len(answers),
            "transcript": transcript[-TRANSCRIPT_ENTRIES:],
            "usage": run.usage.plus(reply.get("Usage", {})),
            "dropped_turns": run.dropped_turns + dropped,
        }
    )


def _within_budget(messages: list[dict[str, Any]], first: int) -> tuple[list[dict[str, Any]], int]:
    """Drops the oldest tool exchanges (an assistant's tool use and the user's results, together)
    after the question until the conversation fits; the question and the latest exchange stay."""
    dropped = 0
    question = first  # the index of the run's own question, after the session's earlier turns
    while size(messages) > CONVERSATION_BUDGET_BYTES and len(messages) > question + 3:
        del messages[question + 1 : question + 3]
        dropped += 1
    return messages, dropped


def finish(run: Run, reply: dict[str, Any], stop_reason: str) -> dict[str, Any]:
    """The request's result: the final text, the transcript, usage over every turn, why it stopped."""
    content = reply.get("Output", {}).get("Message", {}).get("Content", [])
    text = "".join(block.get("Text", "") for block in content)
    usage = run.usage.plus(reply.get("Usage", {}))
    return {
        "output_text": text,
        "stop_reason": stop_reason,
        "turns": run.turn + 1,
        "tool_calls": run.tool_calls,
        "transcript": run.transcript,
        "usage": usage.model_dump(),
        "model_id": run.model_id,
        "prompt": run.prompt,
        "session_id": run.session_id,
        "dropped_turns": run.dropped_turns,
    }
