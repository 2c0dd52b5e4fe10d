"""Validating a customization dataset as it streams from S3, before any job is started.

JSON Lines, one record per line, in the record schema of the method: conversations for SFT and
prompts for distillation (Amazon Bedrock's `bedrock-conversation-2024` schema), chosen/rejected
pairs for DPO, prompts for PPO, prompts with reference answers for RFT, plain text for CPT.
The report counts records and estimated tokens against the method's limits and lists the first
problems with their line numbers.
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
CONVERSATION_SCHEMA = "bedrock-conversation-2024"


@dataclass(frozen=True)
class Limits:
    min_records: int
    max_records: int
    max_record_tokens: int


# Record counts and sizes the services accept for Amazon Nova (Bedrock's quotas for fine-tuning
# and distillation; the Nova recipes' guidance for the SageMaker methods).
LIMITS: dict[Method, Limits] = {
    Method.SFT: Limits(8, 20_000, 32_000),
    Method.DPO: Limits(8, 20_000, 32_000),
    Method.PPO: Limits(8, 20_000, 8_000),
    Method.CPT: Limits(1, 1_000_000, 100_000),
    Method.DISTILLATION: Limits(100, 15_000, 32_000),
    Method.RFT: Limits(8, 20_000, 8_000),
}


class RecordProblem(ValueError):
    """One record breaks its method's schema."""


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecordProblem(f"{where} must be a non-empty string")
    return value


def _content(blocks: Any, where: str) -> str:
    if not isinstance(blocks, list) or not blocks:
        raise RecordProblem(f"{where} must be a non-empty list of content blocks")
    texts = []
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or "text" not in block:
            raise RecordProblem(f"{where}[{index}] must be an object with a text field")
        texts.append(_text(block["text"], f"{where}[{index}].text"))
    return " ".join(texts)


def _conversation(record: dict[str, Any], *, ends_with: str) -> str:
    if record.get("schemaVersion") != CONVERSATION_SCHEMA:
        raise RecordProblem(f'schemaVersion must be "{CONVERSATION_SCHEMA}"')
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
        texts.append(_content(message.get("content"), f"messages[{index}].content"))
    if messages[-1]["role"] != ends_with:
        raise RecordProblem(f"the last message must be the {ends_with}'s")
    return " ".join(texts)


def _sft(record: dict[str, Any]) -> str:
    text = _conversation(record, ends_with="assistant")
    if len(record["messages"]) < 2:
        raise RecordProblem("a training conversation needs a user turn and an assistant turn")
    return text


def _distillation(record: dict[str, Any]) -> str:
    return _conversation(record, ends_with="user")


def _dpo(record: dict[str, Any]) -> str:
    prompt, chosen, rejected = (_text(record.get(name), name) for name in ("prompt", "chosen", "rejected"))
    if chosen.strip() == rejected.strip():
        raise RecordProblem("chosen and rejected must differ")
    return " ".join((prompt, chosen, rejected, str(record.get("system", ""))))


def _ppo(record: dict[str, Any]) -> str:
    return _text(record.get("prompt"), "prompt") + " " + str(record.get("system", ""))


def _rft(record: dict[str, Any]) -> str:
    return (
        _text(record.get("prompt"), "prompt")
        + " "
        + _text(record.get("reference_answer"), "reference_answer")
    )


def _cpt(record: dict[str, Any]) -> str:
    return _text(record.get("text"), "text")


SCHEMAS: dict[Method, Callable[[dict[str, Any]], str]] = {
    Method.SFT: _sft,
    Method.DISTILLATION: _distillation,
    Method.DPO: _dpo,
    Method.PPO: _ppo,
    Method.RFT: _rft,
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
