"""The local model's tool use: which tools a Converse request's question calls for, deterministically.

With no model on the machine, the Bedrock stand-in decides from the agent's question and the tool
results so far, so an agent's whole loop runs and tests can predict it:

- a question that asks to search, look up or find calls `search_documents` (with the first quoted
  phrase, else the question, as the query);
- an arithmetic expression in the question calls `calculator` with it, in the same turn as a search;
- "multiply by N" (or "times N", "divide by N", "add N", "subtract N") calls `calculator` once the
  search has answered, on the first number the search found;
- "again and again" asks for another search every turn (so a run reaches its turn limit);
- then it answers, saying what each tool answered (or that it failed).

Only tools the request offers are called. The reply is Converse's: text and `toolUse` blocks, stop
reason `tool_use`; then text and `end_turn`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

SEARCH = "search_documents"
CALCULATOR = "calculator"
_ASKS_TO_SEARCH = re.compile(r"\b(search|look up|find)\b", re.IGNORECASE)
# A quote opens after a space or the start, and closes before a non-letter: "manual's" is no quote.
_QUOTED = re.compile(r"(?:(?<=\s)|^)[\"“']([^\"”]{2,200}?)[\"”'](?!\w)")
_EXPRESSION = re.compile(r"(?<![\w.])\(?-?\d+(?:\.\d+)?(?:\s*[-+*/^%]\s*\(?-?\d+(?:\.\d+)?\)?)+")
_FOLLOW_UP = re.compile(r"\b(multiply by|times|divide by|add|subtract)\s+(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_OPERATORS = {"multiply by": "*", "times": "*", "divide by": "/", "add": "+", "subtract": "-"}
_BEST_PASSAGE = re.compile(r"\[1\][^:\n]*:\s*(.*)")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Answered:
    name: str
    input: dict[str, Any]
    text: str
    status: str


def _texts(message: dict[str, Any]) -> list[str]:
    return [block["text"] for block in message.get("content", []) if "text" in block]


def _question_and_answers(messages: list[dict[str, Any]]) -> tuple[str, int, list[Answered]]:
    """The agent's question (the latest user text), the turns since, and the tools' answers since."""
    asked = max((i for i, m in enumerate(messages) if m.get("role") == "user" and _texts(m)), default=0)
    question = " ".join(_texts(messages[asked])) if messages else ""
    uses: dict[str, tuple[str, dict[str, Any]]] = {}
    answers: list[Answered] = []
    turns = 0
    for message in messages[asked + 1 :]:
        for block in message.get("content", []):
            if "toolUse" in block:
                uses[block["toolUse"]["toolUseId"]] = (
                    block["toolUse"]["name"],
                    block["toolUse"].get("input", {}),
                )
            if "toolResult" in block:
                result = block["toolResult"]
                name, arguments = uses.get(result["toolUseId"], ("?", {}))
                text = " ".join(part.get("text", "") for part in result.get("content", []))
                answers.append(Answered(name, arguments, text, result.get("status", "success")))
        turns += message.get("role") == "assistant"
    return question, turns, answers


def _call(question: str, turn: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(f"{question}|{turn}|{name}|{sorted(arguments.items())}".encode()).hexdigest()
    return {"toolUse": {"toolUseId": f"tooluse_{digest[:20]}", "name": name, "input": arguments}}


def tool_reply(request: dict[str, Any]) -> tuple[list[dict[str, Any]], str] | None:
    """The content blocks and stop reason of the local model's reply, or None when no tool is
    offered (the plain reply then answers)."""
    offered = {tool["toolSpec"]["name"] for tool in request.get("toolConfig", {}).get("tools", [])}
    if not offered:
        return None
    question, turn, answers = _question_and_answers(request.get("messages", []))
    called = {answer.name for answer in answers}
    calls = []
    wants_search = SEARCH in offered and _ASKS_TO_SEARCH.search(question)
    if wants_search and (SEARCH not in called or "again and again" in question.lower()):
        quoted = _QUOTED.search(question)
        calls.append(_call(question, turn, SEARCH, {"query": quoted.group(1) if quoted else question[:200]}))
    expression = _EXPRESSION.search(question)
    if CALCULATOR in offered and expression and CALCULATOR not in called:
        calls.append(_call(question, turn, CALCULATOR, {"expression": expression.group(0).strip()}))
    follow_up = _FOLLOW_UP.search(question)
    found = next((a for a in answers if a.name == SEARCH and a.status == "success"), None)
    if CALCULATOR in offered and follow_up and found and CALCULATOR not in called and not calls:
        best = _BEST_PASSAGE.search(found.text)  # "[1] document <id>, part <n>: <passage>"
        number = _NUMBER.search(best.group(1) if best else found.text)
        if number:
            expression_text = (
                f"{number.group(0)} {_OPERATORS[follow_up.group(1).lower()]} {follow_up.group(2)}"
            )
            calls.append(_call(question, turn, CALCULATOR, {"expression": expression_text}))
    if calls:
        names = ", ".join(call["toolUse"]["name"] for call in calls)
        return [{"text": f"[local model] I will use {names}."}, *calls], "tool_use"
    return [{"text": final_answer(answers)}], "end_turn"


def final_answer(answers: list[Answered]) -> str:
    if not answers:
        return "[local model] I could answer without any tool."
    parts = []
    for answer in answers:
        lines = answer.text.strip().splitlines() or ["(nothing)"]
        best = next((line for line in lines if line.startswith("[1] ")), None)  # a search's best passage
        first_line = best[4:] if best else lines[0]
        if answer.status == "success":
            parts.append(f"{answer.name} answered: {first_line[:300]}")
        else:
            parts.append(f"{answer.name} failed ({first_line[:200]}), so I answered without it")
    return "[local model] " + "; ".join(parts) + "."
