"""The local model's tool use (agenthub/local/tool_use.py): the tools a question calls for, and its answer."""

from __future__ import annotations

from typing import Any

from agenthub.local.tool_use import CALCULATOR, SEARCH, Answered, final_answer, tool_reply


def asked(
    question: str, *later: dict[str, Any], tools: tuple[str, ...] = (SEARCH, CALCULATOR)
) -> dict[str, Any]:
    offered = [{"toolSpec": {"name": name}} for name in tools]
    return {
        "toolConfig": {"tools": offered},
        "messages": [{"role": "user", "content": [{"text": question}]}, *later],
    }


def calls(request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    reply = tool_reply(request)
    assert reply is not None
    return [(b["toolUse"]["name"], b["toolUse"]["input"]) for b in reply[0] if "toolUse" in b]


def answered(name: str, text: str, status: str = "success") -> list[dict[str, Any]]:
    use = {"toolUse": {"toolUseId": "t1", "name": name, "input": {}}}
    result = {"toolResult": {"toolUseId": "t1", "content": [{"text": text}], "status": status}}
    return [{"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]


def test_the_local_model_uses_no_tool_when_none_is_offered() -> None:
    assert tool_reply({"messages": [{"role": "user", "content": [{"text": "Find 'x' and 2+2"}]}]}) is None


def test_the_local_model_searches_for_the_quoted_phrase_and_computes_the_expression_in_one_turn() -> None:
    reply = tool_reply(asked('Find "battery life" and work out (2+3)*4'))

    assert reply is not None
    assert reply[1] == "tool_use"
    assert reply[0][0] == {"text": "[local model] I will use search_documents, calculator."}
    assert calls(asked('Find "battery life" and work out (2+3)*4')) == [
        (SEARCH, {"query": "battery life"}),
        (CALCULATOR, {"expression": "(2+3)*4"}),
    ]


def test_the_local_model_searches_for_the_whole_question_when_nothing_is_quoted() -> None:
    assert calls(asked("Look up the battery life")) == [(SEARCH, {"query": "Look up the battery life"})]


def test_an_apostrophe_is_not_taken_for_a_quote_around_the_search_phrase() -> None:
    assert calls(asked("Find the manual's 'battery life' section")) == [(SEARCH, {"query": "battery life"})]


def test_the_local_model_calls_only_the_tools_offered() -> None:
    assert calls(asked("Find 'battery life'", tools=(CALCULATOR,))) == []
    assert calls(asked("What is 12 * 60?", tools=(SEARCH,))) == []


def test_the_local_model_multiplies_the_number_the_search_found_once_it_has_answered() -> None:
    found = "1 passage(s) match:\n[1] document d1, part 2: The battery lasts 12 hours."
    request = asked("Find the battery life and multiply by 60", *answered(SEARCH, found))

    assert calls(request) == [(CALCULATOR, {"expression": "12 * 60"})]


def test_the_local_model_answers_once_its_tools_have_answered_saying_what_each_said() -> None:
    reply = tool_reply(asked("What is 12 * 60?", *answered(CALCULATOR, "12 * 60 = 720")))

    assert reply == ([{"text": "[local model] calculator answered: 12 * 60 = 720."}], "end_turn")


def test_the_local_model_searches_again_every_turn_when_asked_again_and_again() -> None:
    request = asked("Search again and again for 'battery'", *answered(SEARCH, "No passage matches."))

    assert calls(request) == [(SEARCH, {"query": "battery"})]


def test_the_local_models_tool_use_ids_are_the_same_for_the_same_request() -> None:
    assert tool_reply(asked("Find 'battery'")) == tool_reply(asked("Find 'battery'"))
    assert tool_reply(asked("Find 'battery'")) != tool_reply(asked("Find 'charger'"))


def test_the_final_answer_quotes_a_searchs_best_passage_and_says_which_tool_failed() -> None:
    answers = [
        Answered(SEARCH, {}, "2 passages:\n[1] document d1, part 1: Twelve hours.\n[2] other", "success"),
        Answered(CALCULATOR, {}, "cannot compute 'x'", "error"),
    ]

    assert final_answer(answers) == (
        "[local model] search_documents answered: document d1, part 1: Twelve hours.; "
        "calculator failed (cannot compute 'x'), so I answered without it."
    )
    assert final_answer([]) == "[local model] I could answer without any tool."
