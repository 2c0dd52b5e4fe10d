"""Validating a customization dataset as it streams from S3, before any job is started.

JSON Lines, one record per line, in the record schema of the method, each as its service's
documentation states it (the page beside each schema). The report counts records and estimated
tokens against the method's limits (the service's documented record counts where it states them)
and lists the first problems with their line numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from contracts.customization import Method
from contracts.requests import estimate_tokens
from shared.aws import object_missing

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MAX_REPORTED_ERRORS = 10


@dataclass(frozen=True)
class Limits:
    min_records: int
    max_records: int
    max_record_tokens: int
    documented: str = ""  # the page stating the record counts; empty: the hub's own bounds


_NOVA_FINE_TUNING = (
    "https://docs.aws.amazon.com/nova/latest/userguide/fine-tune-prepare-data-understanding.html"
)
_BEDROCK_RFT = "https://docs.aws.amazon.com/bedrock/latest/userguide/rft-prepare-data.html"
_DISTILLATION = "https://docs.aws.amazon.com/bedrock/latest/userguide/distillation-prepare-datasets.html"
# Record counts: the Bedrock RFT minimum of 100 and distillation's 100..15,000 prompts are the services';
# the others are the hub's own floor and ceiling (the Nova guide recommends at least 100 samples a task
# but states no minimum), so a typo'd upload of three lines is caught before hours of training.
LIMITS: dict[Method, Limits] = {
    Method.SFT: Limits(8, 20_000, 32_000),
    Method.DPO: Limits(8, 20_000, 32_000),
    Method.PPO: Limits(8, 20_000, 8_000),
    Method.CPT: Limits(1, 1_000_000, 100_000),
    Method.DISTILLATION: Limits(100, 15_000, 32_000, _DISTILLATION),
    Method.RFT: Limits(100, 20_000, 8_000, _BEDROCK_RFT),
    Method.RFT_MULTI_TURN: Limits(100, 20_000, 32_000),
}
# Words the Nova fine-tuning recipes reserve; a prompt containing one fails the job.
# https://docs.aws.amazon.com/nova/latest/userguide/fine-tune-prepare-data-understanding.html
RESERVED_WORDS = ("User:", "Bot:", "Assistant:", "System:", "<image>", "<video>", "[EOS]")


class RecordProblem(ValueError):
    """One record breaks its method's schema."""


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecordProblem(f"{where} must be a non-empty string")
    return value


def _prompt_text(value: Any, where: str) -> str:
    text = _text(value, where)
    reserved = [word for word in RESERVED_WORDS if word in text]
    if reserved:
        raise RecordProblem(f"{where} contains {reserved[0]!r}, a word Nova training reserves")
    return text


def _content(blocks: Any, where: str) -> str:
    if not isinstance(blocks, list) or not blocks:
        raise RecordProblem(f"{where} must be a non-empty list of content blocks")
    texts = []
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or "text" not in block:
            raise RecordProblem(f"{where}[{index}] must be an object with a text field")
        texts.append(_prompt_text(block["text"], f"{where}[{index}].text"))
    return " ".join(texts)


PREFERRED, NON_PREFERRED = "preferred", "non-preferred"


def _candidates(candidates: Any, where: str) -> str:
    """DPO's last turn: a preferred and a non-preferred candidate, each with its content.
    https://docs.aws.amazon.com/nova/latest/userguide/nova-dpo.html"""
    if not isinstance(candidates, list) or len(candidates) != 2:
        raise RecordProblem(f"{where} must be a list of two candidates: one preferred, one non-preferred")
    texts, labels = [], []
    for index, candidate in enumerate(candidates):
        if not isinstance(candidate, dict):
            raise RecordProblem(f"{where}[{index}] must be an object with content and preferenceLabel")
        label = candidate.get("preferenceLabel")
        if label not in (PREFERRED, NON_PREFERRED):
            raise RecordProblem(f'{where}[{index}].preferenceLabel must be "preferred" or "non-preferred"')
        labels.append(label)
        texts.append(_content(candidate.get("content"), f"{where}[{index}].content"))
    if sorted(labels) != [NON_PREFERRED, PREFERRED]:
        raise RecordProblem(f"{where} needs one preferred and one non-preferred candidate")
    if texts[0].strip() == texts[1].strip():
        raise RecordProblem(f"{where}: the preferred and non-preferred candidates must differ")
    return " ".join(texts)


def _conversation(record: dict[str, Any], *, ends_with: tuple[str, ...], preference: bool = False) -> str:
    """The Converse schema of Nova fine-tuning: any schemaVersion string, an optional system
    prompt, turns alternating from the user's. In a DPO record the last (assistant) turn holds
    candidates instead of content."""
    if not isinstance(record.get("schemaVersion"), str):
        raise RecordProblem("schemaVersion must be a string (bedrock-conversation-2024)")
    texts = [_content(record["system"], "system")] if "system" in record else []
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RecordProblem("messages must be a non-empty list")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RecordProblem(f"messages[{index}] must be an object")
        expected = "user" if index % 2 == 0 else "assistant"
        if message.get("role") != expected:
            raise RecordProblem(
                f"messages[{index}].role must be {expected!r} (turns alternate, starting with user)"
            )
        if preference and index == len(messages) - 1 and expected == "assistant":
            texts.append(_candidates(message.get("candidates"), f"messages[{index}].candidates"))
        else:
            texts.append(_content(message.get("content"), f"messages[{index}].content"))
    if messages[-1]["role"] not in ends_with:
        raise RecordProblem(f"the last message must be the {' or '.join(ends_with)}'s")
    return " ".join(texts)


def _sft(record: dict[str, Any]) -> str:
    text = _conversation(record, ends_with=("assistant",))
    if len(record["messages"]) < 2:
        raise RecordProblem("a training conversation needs a user turn and an assistant turn")
    return text


def _dpo(record: dict[str, Any]) -> str:
    return _conversation(record, ends_with=("assistant",), preference=True)


def _distillation(record: dict[str, Any]) -> str:
    # The prompt, and optionally the answer wanted. Bedrock's teacher answers the prompts.
    # https://docs.aws.amazon.com/bedrock/latest/userguide/distillation-data-prep-option-1.html
    return _conversation(record, ends_with=("user", "assistant"))


PPO_REWARD_CATEGORIES = ("default", "math", "coding", "if", "rag", "rai")


def _ppo(record: dict[str, Any]) -> str:
    """https://docs.aws.amazon.com/nova/latest/userguide/nova-ppo.html"""
    turns = record.get("turns")
    if not isinstance(turns, list) or not turns:
        raise RecordProblem("turns must be a non-empty list of strings")
    texts = [_text(turn, f"turns[{index}]") for index, turn in enumerate(turns)]
    mask = record.get("turns_to_mask")
    if not isinstance(mask, list) or not all(
        isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(turns) for index in mask
    ):
        raise RecordProblem(f"turns_to_mask must be a list of turn indexes (0..{len(turns) - 1})")
    if record.get("reward_category") not in PPO_REWARD_CATEGORIES:
        raise RecordProblem(f"reward_category must be one of: {', '.join(PPO_REWARD_CATEGORIES)}")
    if "meta_data" in record and not isinstance(record["meta_data"], dict):
        raise RecordProblem("meta_data, when given, must be an object")
    return " ".join(texts)


def _rft(record: dict[str, Any]) -> str:
    """The OpenAI chat-completion format with a reference answer for the grader.
    https://docs.aws.amazon.com/bedrock/latest/userguide/rft-prepare-data.html"""
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RecordProblem("messages must be a non-empty list")
    texts = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
            raise RecordProblem(f"messages[{index}].role must be system, user or assistant")
        texts.append(_text(message.get("content"), f"messages[{index}].content"))
    if not any(message["role"] == "user" for message in messages):
        raise RecordProblem("messages must include the user's prompt")
    if record.get("reference_answer") in (None, "", {}, []):
        raise RecordProblem("reference_answer is required: the grader scores the model's answer against it")
    return " ".join(texts) + " " + json.dumps(record["reference_answer"])


def _cpt(record: dict[str, Any]) -> str:
    return _text(record.get("text"), "text")


SCHEMAS: dict[Method, Callable[[dict[str, Any]], str]] = {
    Method.SFT: _sft,
    Method.DISTILLATION: _distillation,
    Method.DPO: _dpo,
    Method.PPO: _ppo,
    Method.RFT: _rft,
    Method.RFT_MULTI_TURN: _rft,
    Method.CPT: _cpt,
}


@dataclass
class Report:
    method: Method
    bytes: int = 0
    records: int = 0
    estimated_tokens: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    more_errors: int = 0

    def problem(self, line: int | None, problem: str) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "problem": problem})
        else:
            self.more_errors += 1

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "method": self.method.value,
            "bytes": self.bytes,
            "records": self.records,
            "estimated_tokens": self.estimated_tokens,
            "min_records": LIMITS[self.method].min_records,
            "max_records": LIMITS[self.method].max_records,
            "limits_documented": LIMITS[self.method].documented or None,
            "errors": self.errors,
            "more_errors": self.more_errors,
        }


def validate_lines(lines: Iterable[bytes], method: Method, size: int) -> Report:
    """Validates a dataset line by line, holding one line in memory at a time."""
    report = Report(method=method, bytes=size)
    limits, check = LIMITS[method], SCHEMAS[method]
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            report.problem(number, "the line is empty (JSON Lines has one record per line)")
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            report.problem(number, f"not valid JSON: {error}")
            continue
        except RecursionError:
            report.problem(number, "not valid JSON: nested too deep to read")
            continue
        if not isinstance(record, dict):
            report.problem(number, "a record must be a JSON object")
            continue
        try:
            text = check(record)
        except RecordProblem as problem:
            report.problem(number, str(problem))
            continue
        tokens = estimate_tokens(text)
        if tokens > limits.max_record_tokens:
            report.problem(
                number, f"about {tokens} tokens; a record may have at most {limits.max_record_tokens}"
            )
        report.records += 1
        report.estimated_tokens += tokens
    if report.records < limits.min_records:
        report.problem(
            None, f"{report.records} valid records; {method.value} needs at least {limits.min_records}"
        )
    if report.records > limits.max_records:
        report.problem(None, f"{report.records} records; {method.value} takes at most {limits.max_records}")
    return report


def validate_object(s3: S3Client, bucket: str, key: str, method: Method, max_bytes: int) -> Report:
    """Validates the dataset at s3://bucket/key, streaming it; refuses it unread if it is too large."""
    try:
        size = int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except ClientError as error:
        if not object_missing(error):
            raise  # throttling or a server error: the task is retried
        code = error.response["Error"]["Code"]
        report = Report(method=method)
        name = key.rsplit("/", 1)[-1]  # the caller's file, not where the lake keeps it
        report.problem(None, f"the dataset {name} cannot be read ({code}): was it uploaded?")
        return report
    if size > max_bytes:
        report = Report(method=method, bytes=size)
        report.problem(None, f"the dataset is {size} bytes; the limit is {max_bytes}")
        return report
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    return validate_lines(body.iter_lines(chunk_size=64 * 1024), method, size)
