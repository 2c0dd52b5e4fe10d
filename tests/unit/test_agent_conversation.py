"""An agent run's conversation, turn by turn: start, fold_answers and finish (the local model's tool
use is in test_local_tool_use.py)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.conversation import (
    CONVERSATION_BUDGET_BYTES,
    TRANSCRIPT_ENTRIES,
    TRANSCRIPT_TEXT,
    Run,
    finish,
    fold_answers,
    start,
)
from contracts.tools import MAX_ANSWER_CHARACTERS, ToolSpec
from shared.hub import RequestRef
from shared.memory import Turn, size
from tests.support.events import load_event

QUESTION = {"Role": "user", "Content": [{"Text": "The battery lasts 12 hours. How many minutes is that?"}]}


def fold_event() -> tuple[Run, dict[str, Any], list[dict[str, Any]]]:
    event = load_event("agent/turns_fold.json")
    return Run.model_validate(event["run"]), event["reply"], event["answers"]


def tool_turn(run: Run, text: str) -> Run:
    use_id = f"tooluse_{run.turn}"
    reply = {
        "Output": {
            "Message": {"Content": [{"ToolUse": {"ToolUseId": use_id, "Name": "calculator", "Input": {}}}]}
        },
        "Usage": {"InputTokens": 10, "OutputTokens": 2, "TotalTokens": 12},
    }
    return fold_answers(run, reply, [{"ToolUseId": use_id, "status": "success", "text": text}])


def start_with(turns: list[Turn], tools: list[ToolSpec] | None = None, system: str | None = None) -> Run:
    return start(
        request=RequestRef(request_id="r1", pipeline="agent", subject="me"),
        model_id="m",
        prompt="And in seconds?",
        system_prompt=system,
        session_id="s1",
        inference={},
        max_turns=6,
        deadline_ms=0,
        tools=tools or [],
        turns=turns,
    )


def test_a_run_starts_with_the_question_after_the_sessions_earlier_turns() -> None:
    spec = ToolSpec(name="calculator", description="Exact arithmetic.", input_schema={"type": "object"})
    newest_first = [Turn("How many minutes?", "720."), Turn("Battery life?", "12 hours.")]

    run = start_with(newest_first, [spec], system="Be brief.")

    texts = [m["Content"][0]["Text"] for m in run.messages]
    assert texts == ["Battery life?", "12 hours.", "How many minutes?", "720.", "And in seconds?"]
    assert run.history_turns == 2
    assert run.system == [{"Text": "Be brief."}]
    assert run.tool_config is not None
    assert run.tool_config["Tools"][0]["ToolSpec"] == {
        "Name": "calculator",
        "Description": "Exact arithmetic.",
        "InputSchema": {"Json": {"type": "object"}},
    }


def test_a_run_keeps_only_the_latest_earlier_turns_that_fit_half_the_budget() -> None:
    big = "é" * (CONVERSATION_BUDGET_BYTES // 8)  # a quarter of the budget: two bytes a character
    run = start_with([Turn("newest", big), Turn("older", big), Turn("oldest", big)])

    assert run.history_turns == 1
    assert run.messages[0]["Content"][0]["Text"] == "newest"
    assert size(run.messages) <= CONVERSATION_BUDGET_BYTES // 2
    assert (run.system, run.tool_config) == ([], None)


def test_folding_answers_appends_the_tool_use_and_its_results_and_counts_the_turn() -> None:
    run, reply, answers = fold_event()

    folded = fold_answers(run, reply, answers)

    assert folded.messages[0] == QUESTION
    assert folded.messages[1] == {"Role": "assistant", "Content": reply["Output"]["Message"]["Content"]}
    result = {"ToolUseId": "tooluse_01", "Content": [{"Text": "12 * 60 = 720"}], "Status": "success"}
    assert folded.messages[2] == {"Role": "user", "Content": [{"ToolResult": result}]}
    assert (folded.turn, folded.tool_calls, folded.dropped_turns) == (2, 1, 0)
    assert folded.transcript == [
        {
            "turn": 2,
            "tool": "calculator",
            "input": '{"expression": "12 * 60"}',
            "outcome": "success",
            "answer": "12 * 60 = 720",
            "duration_ms": 4,
        }
    ]
    assert run.messages == [QUESTION]  # the run folded is left as it was


@pytest.mark.parametrize("status", ["error", "timeout", None])
def test_an_answer_that_is_not_a_success_is_marked_as_an_error(status: str | None) -> None:
    run, reply, answers = fold_event()
    answers[0]["status"] = status

    folded = fold_answers(run, reply, answers)

    assert folded.messages[-1]["Content"][0]["ToolResult"]["Status"] == "error"
    assert folded.transcript[-1]["outcome"] == "error"


def test_a_long_answer_is_cut_at_the_limit_and_says_how_much_was_cut() -> None:
    run, reply, answers = fold_event()
    answers[0]["text"] = "x" * (MAX_ANSWER_CHARACTERS + 123)

    folded = fold_answers(run, reply, answers)

    text = folded.messages[-1]["Content"][0]["ToolResult"]["Content"][0]["Text"]
    assert text.startswith("x" * MAX_ANSWER_CHARACTERS)
    assert text.endswith(" … [123 more characters cut]")
    assert text[MAX_ANSWER_CHARACTERS] != "x"
    cut_in_transcript = len(text) - TRANSCRIPT_TEXT
    assert (
        folded.transcript[-1]["answer"]
        == "x" * TRANSCRIPT_TEXT + f" … [{cut_in_transcript} more characters cut]"
    )


def test_every_answer_of_a_turn_goes_back_in_one_message_in_the_order_given() -> None:
    run, reply, answers = fold_event()
    late = {
        "ToolUseId": "tooluse_unknown",
        "tool": "search_documents",
        "status": "success",
        "text": "y" * MAX_ANSWER_CHARACTERS,
    }

    folded = fold_answers(run, reply, [*answers, late])

    results = [block["ToolResult"] for block in folded.messages[-1]["Content"]]
    assert [r["ToolUseId"] for r in results] == ["tooluse_01", "tooluse_unknown"]
    assert results[1]["Content"] == [{"Text": "y" * MAX_ANSWER_CHARACTERS}]  # at the limit: kept whole
    assert [entry["tool"] for entry in folded.transcript] == ["calculator", "search_documents"]
    assert folded.transcript[1]["input"] == "{}"
    assert folded.tool_calls == 2


def test_the_transcript_keeps_only_the_latest_entries() -> None:
    run, _, _ = fold_event()
    for n in range(TRANSCRIPT_ENTRIES + 5):
        run = tool_turn(run, f"answer {n}")

    assert len(run.transcript) == TRANSCRIPT_ENTRIES
    assert run.transcript[-1]["answer"] == f"answer {TRANSCRIPT_ENTRIES + 4}"
    assert run.transcript[0]["answer"] == "answer 5"
    assert run.tool_calls == TRANSCRIPT_ENTRIES + 5


def test_the_conversation_drops_its_oldest_tool_exchanges_to_stay_within_budget() -> None:
    run, _, _ = fold_event()
    for n in range(20):
        run = tool_turn(run, f"{n:02d} " + "€" * (MAX_ANSWER_CHARACTERS - 3))  # 3 bytes a character

        assert size(run.messages) <= CONVERSATION_BUDGET_BYTES
        assert run.messages[0] == QUESTION
        assert run.messages[-1]["Content"][0]["ToolResult"]["Content"][0]["Text"].startswith(f"{n:02d} ")
        assert [m["Role"] for m in run.messages[1:]] == ["assistant", "user"] * ((len(run.messages) - 1) // 2)

    assert run.dropped_turns == 20 - (len(run.messages) - 1) // 2
    assert run.dropped_turns > 0
    assert run.turn == 21


def test_the_sessions_earlier_turns_are_kept_ahead_of_the_question_when_exchanges_are_dropped() -> None:
    run, _, _ = fold_event()
    earlier = [
        {"Role": "user", "Content": [{"Text": "Hi"}]},
        {"Role": "assistant", "Content": [{"Text": "Hello"}]},
    ]
    run = run.model_copy(update={"messages": [*earlier, QUESTION], "history_turns": 1})
    for _ in range(12):
        run = tool_turn(run, "€" * MAX_ANSWER_CHARACTERS)

    assert run.dropped_turns > 0
    assert run.messages[:3] == [*earlier, QUESTION]
    assert size(run.messages) <= CONVERSATION_BUDGET_BYTES


def test_usage_is_summed_over_every_turn_to_the_finish() -> None:
    run, reply, answers = fold_event()
    folded = fold_answers(run, reply, answers)
    ending = load_event("agent/turns_finish.json")

    result = finish(folded, ending["reply"], ending["stop_reason"])

    assert result["usage"] == {"input_tokens": 300, "output_tokens": 36, "total_tokens": 336}
    assert result["output_text"] == "12 hours is 720 minutes."
    assert (result["stop_reason"], result["turns"], result["tool_calls"]) == ("end_turn", 3, 1)
    assert result["transcript"] == folded.transcript
    assert result["prompt"] == run.prompt


def test_a_finish_without_a_reply_has_empty_text_and_the_usage_so_far() -> None:
    run = Run.model_validate(load_event("agent/turns_finish.json")["run"])

    result = finish(run, {}, "max_turns")

    assert (result["output_text"], result["stop_reason"]) == ("", "max_turns")
    assert result["usage"] == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
