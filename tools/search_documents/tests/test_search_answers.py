"""The search as the model meets it: its input held to the registered schema, and an answer that
says what it did not search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agenthub.template import load_sam_template
from search_documents_tool import handler
from search_documents_tool.handler import MAX_CHUNKS_SEARCHED, Found, SearchInput, search
from search_documents_tool.ranking import Hit

TEMPLATE = Path(__file__).parents[1] / "template.yaml"


class Answers:
    """A DocumentStore's `search`, answering what it was given."""

    def __init__(self, found: Found) -> None:
        self.found = found
        self.asked: list[tuple[str, str, int]] = []

    def search(self, caller: str, query: str, limit: int, seconds: object) -> Found:
        self.asked.append((caller, query, limit))
        return self.found


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Answers:
    fake = Answers(Found([Hit("doc-1", 0, 1.5, "The battery   lasts\n12 hours.")]))
    monkeypatch.setattr(handler, "store", lambda: fake)
    return fake


def test_the_registered_input_schema_is_the_input_model_the_function_holds_calls_to() -> None:
    registration = load_sam_template(TEMPLATE)["Resources"]["SearchDocumentsRegistration"]["Properties"]

    assert isinstance(registration["InputSchema"], str)  # JSON text, which CloudFormation keeps whole
    assert json.loads(registration["InputSchema"]) == SearchInput.registered_schema()


def test_a_search_answers_its_hits_for_the_caller_it_was_called_for(answers: Answers) -> None:
    text = search(SearchInput(query="battery", max_results=3), "caller-1")

    assert answers.asked == [("caller-1", "battery", 3)]
    assert text == (
        "1 passage(s) of your documents match 'battery', best first:\n"
        "[1] document doc-1, part 1: The battery lasts 12 hours."
    )


def test_an_answer_says_what_is_not_read_yet_and_what_is_past_the_budget(answers: Answers) -> None:
    answers.found = Found([], unread=30, beyond_budget=7)

    text = search(SearchInput(query="battery"), "caller-1")

    assert text.splitlines() == [
        "No passage of your documents matches 'battery'. Preprocess a document first to search it.",
        "(Not searched yet: 30 older part(s) of your documents, still being read; the same search again"
        " goes on from there.)",
        f"(Not searched: 7 older part(s) of your documents; a search reads the newest {MAX_CHUNKS_SEARCHED}"
        " parts, 8 MiB at most.)",
    ]


def test_a_long_query_is_quoted_as_an_excerpt(answers: Answers) -> None:
    query = "battery " * 60  # 480 characters, within the limit

    text = search(SearchInput(query=query), "caller-1")

    assert text.startswith(f"1 passage(s) of your documents match {query[:80] + '…'!r}, best first:")


def test_a_query_of_spaces_only_is_refused() -> None:
    with pytest.raises(handler.ToolError, match="give what to look for, in words"):
        search(SearchInput(query="   "), "caller-1")
