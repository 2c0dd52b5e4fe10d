"""The customization dataset validator: every method's record schema, limits and line numbers."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from contracts.customization import Method
from customization.dataset_rules import LIMITS, MAX_REPORTED_ERRORS, validate_lines, validate_object


def conversation(*turns: str, schema: Any = "bedrock-conversation-2024") -> dict[str, Any]:
    roles = ("user", "assistant")
    return {
        "schemaVersion": schema,
        "system": [{"text": "You answer questions about the hub."}],
        "messages": [{"role": roles[i % 2], "content": [{"text": text}]} for i, text in enumerate(turns)],
    }


def preference(
    *history: str, preferred: str = "A pub/sub topic.", rejected: str = "A database."
) -> dict[str, Any]:
    """A DPO record: Converse turns, the last assistant turn holding the two candidates."""
    record = conversation(*history, "Describe the hub.")
    record["messages"].append(
        {
            "role": "assistant",
            "candidates": [
                {"content": [{"text": preferred}], "preferenceLabel": "preferred"},
                {"content": [{"text": rejected}], "preferenceLabel": "non-preferred"},
            ],
        }
    )
    return record


def chat(reference: Any = "4", **fields: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "Answer with the number only."},
            {"role": "user", "content": "2 + 2?"},
        ],
        "reference_answer": reference,
        **fields,
    }


PPO_RECORD = {
    "turns": ["You are helpful.", "User: What is ML? Bot:", "Machine learning is..."],
    "turns_to_mask": [0, 1],
    "reward_category": "default",
}
VALID: dict[Method, dict[str, Any]] = {
    Method.SFT: conversation("What is the hub?", "One SNS topic."),
    Method.DISTILLATION: conversation("Explain the hub in one line."),
    Method.DPO: preference("Is this about the hub?", "Yes."),
    Method.PPO: PPO_RECORD,
    Method.RFT: chat({"answer": "4"}),
    Method.RFT_MULTI_TURN: chat("4"),
    Method.CPT: {"text": "The agent hub joins small services through one topic."},
}
INVALID: dict[Method, list[tuple[Any, str]]] = {
    Method.SFT: [
        (conversation("only a question"), "the last message must be the assistant's"),
        (conversation("q", "a", schema=7), "schemaVersion must be a string"),  # type: ignore[arg-type]
        (
            {**conversation("q", "a"), "messages": [{"role": "assistant", "content": [{"text": "a"}]}]},
            "role must be 'user'",
        ),
        (conversation("q", ""), "messages[1].content[0].text must be a non-empty string"),
        (conversation("User: q", "a"), "contains 'User:', a word Nova training reserves"),
    ],
    Method.DPO: [
        ({"prompt": "p", "chosen": "c", "rejected": "r"}, "schemaVersion must be a string"),
        (preference(preferred="same", rejected="same"), "candidates must differ"),
        (conversation("q", "a"), "messages[1].candidates must be a list of two candidates"),
        (
            {
                **preference(),
                "messages": [
                    *preference()["messages"][:-1],
                    {
                        "role": "assistant",
                        "candidates": [
                            {"content": [{"text": "x"}], "preferenceLabel": "preferred"},
                            {"content": [{"text": "y"}], "preferenceLabel": "preferred"},
                        ],
                    },
                ],
            },
            "needs one preferred and one non-preferred candidate",
        ),
        (
            {
                **preference(),
                "messages": [
                    *preference()["messages"][:-1],
                    {
                        "role": "assistant",
                        "candidates": [
                            {"content": [{"text": "x"}], "preferenceLabel": "chosen"},
                            {"content": [{"text": "y"}], "preferenceLabel": "non-preferred"},
                        ],
                    },
                ],
            },
            'preferenceLabel must be "preferred" or "non-preferred"',
        ),
    ],
    Method.PPO: [
        ({"prompt": "p"}, "turns must be a non-empty list of strings"),
        ({**PPO_RECORD, "turns_to_mask": [5]}, "turns_to_mask must be a list of turn indexes (0..2)"),
        ({**PPO_RECORD, "reward_category": "vibes"}, "reward_category must be one of"),
    ],
    Method.RFT: [
        ({"prompt": "p", "reference_answer": "4"}, "messages must be a non-empty list"),
        (chat(None), "reference_answer is required"),
        (
            {"messages": [{"role": "system", "content": "s"}], "reference_answer": "4"},
            "must include the user's",
        ),
        (
            {"messages": [{"role": "tool", "content": "x"}], "reference_answer": "4"},
            "role must be system, user",
        ),
    ],
    Method.CPT: [({"text": "   "}, "text must be a non-empty string")],
}


def jsonl(records: list[Any]) -> Iterator[bytes]:
    return (json.dumps(record).encode() for record in records)


def enough(method: Method) -> int:
    return LIMITS[method].min_records


@pytest.mark.parametrize("method", list(Method))
def test_a_valid_dataset_of_each_method_passes_with_its_counts(method: Method) -> None:
    records = [VALID[method]] * enough(method)

    report = validate_lines(jsonl(records), method, size=1234)

    assert report.valid, report.errors
    assert report.records == len(records)
    assert report.estimated_tokens > 0
    assert report.as_dict()["bytes"] == 1234
    assert report.as_dict()["min_records"] == LIMITS[method].min_records
    assert report.as_dict()["max_records"] == LIMITS[method].max_records


@pytest.mark.parametrize(
    ("method", "record", "problem"), [(m, r, p) for m, cases in INVALID.items() for r, p in cases]
)
def test_a_record_that_breaks_its_methods_schema_is_reported_with_its_line(
    method: Method, record: Any, problem: str
) -> None:
    records = [VALID[method]] * enough(method) + [record]

    report = validate_lines(jsonl(records), method, size=0)

    assert not report.valid
    assert report.errors == [{"line": len(records), "problem": problem}] or (
        report.errors[0]["line"] == len(records) and problem in report.errors[0]["problem"]
    )


def test_a_malformed_line_deep_in_a_large_file_is_found_by_its_number() -> None:
    good = json.dumps(VALID[Method.SFT]).encode()
    lines = [good] * 19_999
    lines[12_344] = b'{"schemaVersion": "bedrock-conversation-2024", "messages": [}'

    report = validate_lines(iter(lines), Method.SFT, size=sum(len(line) + 1 for line in lines))

    assert [error["line"] for error in report.errors] == [12_345]
    assert report.errors[0]["problem"].startswith("not valid JSON")
    assert report.records == 19_998


def test_too_few_records_and_empty_lines_are_reported() -> None:
    report = validate_lines(
        iter([json.dumps(VALID[Method.DISTILLATION]).encode(), b"", b"   "]), Method.DISTILLATION, 0
    )

    assert {"line": 2, "problem": "the line is empty (JSON Lines has one record per line)"} in report.errors
    assert report.errors[-1] == {"line": None, "problem": "1 valid records; distillation needs at least 100"}


def test_only_the_first_errors_are_listed_and_the_rest_counted() -> None:
    report = validate_lines(iter([b"nope"] * 25), Method.CPT, 0)

    assert len(report.errors) == MAX_REPORTED_ERRORS
    assert report.more_errors == 25 + 1 - MAX_REPORTED_ERRORS  # the 25 lines and the record count


def test_rft_needs_the_hundred_records_bedrock_requires_and_names_the_page() -> None:
    report = validate_lines(jsonl([VALID[Method.RFT]] * 99), Method.RFT, 0)

    assert report.errors == [{"line": None, "problem": "99 valid records; rft needs at least 100"}]
    assert report.as_dict()["limits_documented"].endswith("/bedrock/latest/userguide/rft-prepare-data.html")


def test_the_sample_datasets_follow_their_methods_schema() -> None:
    from agenthub import PROJECT_ROOT

    folder = PROJECT_ROOT / "events" / "customization"
    for name, method in (("dpo_dataset.jsonl", Method.DPO), ("rft_dataset.jsonl", Method.RFT)):
        lines = (folder / name).read_bytes().splitlines()
        report = validate_lines(iter(lines), method, 0)
        assert report.valid, (name, report.errors)
        assert report.records == len(lines)


def test_an_over_long_record_is_reported() -> None:
    huge = {**PPO_RECORD, "turns": ["word " * 40_000, "User: q Bot:", "a"]}

    report = validate_lines(jsonl([huge] + [VALID[Method.PPO]] * 8), Method.PPO, 0)

    assert report.errors[0]["line"] == 1
    assert "a record may have at most 8000" in report.errors[0]["problem"]


class FakeS3:
    """Enough of S3 for validate_object: a size, and a body that may not be read."""

    class exceptions:
        ClientError = Exception

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.read = False

    def head_object(self, **_: Any) -> dict[str, int]:
        return {"ContentLength": len(self.body)}

    def get_object(self, **_: Any) -> dict[str, Any]:
        self.read = True

        class Body(io.BytesIO):
            def iter_lines(self, chunk_size: int) -> Iterator[bytes]:
                return iter(self.getvalue().splitlines())

        return {"Body": Body(self.body)}


def test_a_file_over_the_size_limit_is_refused_without_reading_it() -> None:
    s3 = FakeS3(b"x" * 2048)

    report = validate_object(s3, "lake", "datasets/a/ds.jsonl", Method.CPT, max_bytes=1024)

    assert report.errors == [{"line": None, "problem": "the dataset is 2048 bytes; the limit is 1024"}]
    assert not s3.read


def test_a_file_within_the_limit_is_streamed_line_by_line() -> None:
    s3 = FakeS3(b'{"text": "one"}\n{"text": "two"}\n')

    report = validate_object(s3, "lake", "datasets/a/ds.jsonl", Method.CPT, max_bytes=1024)

    assert report.valid
    assert report.records == 2
    assert s3.read
