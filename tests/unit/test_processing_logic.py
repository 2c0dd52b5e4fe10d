"""Pure parts of the pipelines: clean-up and chunking, execution names, routing, the SQS failure report."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agenthub.local.pollers import failed_items
from agenthub.local.standins import converse_reply
from contracts.requests import CHARACTERS_PER_TOKEN, InvokeInput, estimate_tokens
from pipeline_kit.trigger import starts_stage
from processing.prepare_model_request import PrepareSettings, Turn, build_model_request
from processing.preprocess import chunk, clean, preprocess
from shared.hub import new_event
from shared.naming import EXECUTION_NAME_LIMIT, execution_name


def test_clean_up_normalises_whitespace_and_drops_control_characters() -> None:
    assert clean("  ﬁrst\u00a0 line\t\tend \r\n\r\n\r\n\x07second\x00 ") == "first line end\n\nsecond"


@pytest.mark.parametrize("tokens", [50, 120, 800])
def test_chunks_stay_within_their_budget_and_lose_no_words(tokens: int) -> None:
    text = clean("\n\n".join(f"Paragraph {n}. " + "Sentence with words. " * (n * 7) for n in range(1, 12)))

    pieces = chunk(text, tokens)

    assert all(len(piece) <= tokens * CHARACTERS_PER_TOKEN for piece in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


def test_an_unbroken_run_of_text_is_still_cut_to_size() -> None:
    pieces = chunk("x" * 1000, 50)

    assert [len(piece) for piece in pieces] == [200] * 5


def test_token_estimates_round_up() -> None:
    assert [estimate_tokens(text) for text in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]


def test_execution_names_come_from_the_request_id_alone_and_fit_the_limit() -> None:
    assert execution_name("7d0c8a52-3f1e", "invoke") == "invoke-7d0c8a52-3f1e"
    odd = execution_name("id with spaces/and:colons" * 5, "preprocess")
    assert len(odd) <= EXECUTION_NAME_LIMIT
    assert odd == execution_name("id with spaces/and:colons" * 5, "preprocess")
    assert odd.replace("-", "").replace("_", "").isalnum()


def accepted(first_stage: str) -> object:
    return new_event(
        event_type="request.accepted", request_id="r", pipeline="invoke", source="t", subject="s", payload={},
        first_stage=first_stage,
    )  # fmt: skip


def test_a_stage_starts_on_its_own_requests_and_on_the_stage_before_it() -> None:
    completed = new_event(
        event_type="preprocess.completed",
        request_id="r",
        pipeline="invoke",
        source="t",
        subject="s",
        payload={},
    )

    assert starts_stage("invoke", accepted("invoke"))  # type: ignore[arg-type]
    assert not starts_stage("invoke", accepted("preprocess"))  # type: ignore[arg-type]
    assert starts_stage("preprocess", accepted("preprocess"))  # type: ignore[arg-type]
    assert starts_stage("invoke", completed)
    assert not starts_stage("preprocess", completed)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (b"", set()),
        (b"null", set()),
        (json.dumps({"batchItemFailures": []}).encode(), set()),
        (json.dumps({"batchItemFailures": [{"itemIdentifier": "a"}]}).encode(), {"a"}),
        (json.dumps({"batchItemFailures": [{"itemIdentifier": "unknown"}]}).encode(), None),
        (json.dumps({"batchItemFailures": [{"itemIdentifier": ""}]}).encode(), None),
        (b"{not json", None),
    ],
)
def test_the_poller_reads_partial_batch_failures_the_way_lambda_does(
    response: bytes, expected: set[str] | None
) -> None:
    assert failed_items(response, {"a", "b"}) == expected


def test_the_local_model_reply_depends_only_on_the_conversation() -> None:
    request = {
        "messages": [
            {"role": "user", "content": [{"text": "first question"}]},
            {"role": "assistant", "content": [{"text": "an answer"}]},
            {"role": "user", "content": [{"text": "second question here"}]},
        ]
    }

    reply, tokens = converse_reply("amazon.nova-lite-v1:0", request)

    assert reply == converse_reply("amazon.nova-lite-v1:0", request)[0]
    assert "You sent 3 words" in reply
    assert "1 earlier turn(s), starting with: 'first question'" in reply
    assert tokens > 0


def test_preprocess_is_a_pure_function_of_the_request() -> None:
    document = preprocess(
        "invoke", {"prompt": "sum it up", "preprocess": {"text": "One.\n\n\nTwo.", "chunk_tokens": 50}}, 10
    )

    assert document.pieces == ["One.\n\nTwo."]
    assert document.stats["words"] == 2
    assert document.request_input == {"prompt": "sum it up"}  # the rest of the chained request


def test_the_model_request_reads_the_document_only_as_far_as_its_budget_goes() -> None:
    settings = PrepareSettings.model_validate(
        {
            "ALLOWED_MODEL_IDS": "m",
            "DEFAULT_MODEL_ID": "m",
            "DATA_LAKE_BUCKET": "b",
            "AGENT_MEMORY_TABLE": "t",
            "CATALOG_TABLE": "c",
        }
    )
    read: list[int] = []

    def texts() -> Iterator[str]:
        for index in range(100):
            read.append(index)
            yield "x" * 60_000

    chunks = [{"index": index} for index in range(100)]
    prepared = build_model_request(InvokeInput(prompt="hi"), settings, chunks, texts(), [Turn("q", "a")])

    assert prepared["document"]["truncated"] is True
    assert len(read) == 3  # 160 KiB holds two chunks and part of a third: the rest is never fetched
    assert prepared["history_turns"] == 0  # no room left for the session's earlier turn
