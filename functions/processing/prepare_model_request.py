"""Prepare the model request: the Converse arguments for an invoke request, checked and bounded.

The state machine then calls Bedrock itself (no Lambda waits on the model). Input: the hub event
that started the pipeline, either the request itself or, for a chained request,
`preprocess.completed` with the document's chunks in the lake.

The whole Converse request travels in the execution's state, which holds 256 KiB at most, so it
is built within a byte budget: the caller's own prompt first (the front door already bounds it),
then the preprocessed document (cut short if need be), then as many of the session's latest turns
from agent memory as still fit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field, ValidationError

from contracts.events import REQUEST_ACCEPTED
from contracts.requests import InvokeInput, memory_session_key
from shared import aws
from shared.config import CommaList, LakeSettings, load_settings
from shared.hub import HubEvent, HubEventTask, load_payload, split_s3_uri
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# Step Functions' 256 KiB, less room for the model's reply and the execution's other variables.
REQUEST_BUDGET_BYTES = 160 * 1024
# The JSON around the texts (keys, the document's summary, the messages' structure).
_STRUCTURE_BYTES = 1024


class PrepareSettings(LakeSettings):
    ALLOWED_MODEL_IDS: CommaList
    DEFAULT_MODEL_ID: str
    AGENT_MEMORY_TABLE: str
    MEMORY_TURNS: int = Field(default=10, ge=0, le=50)


class InvalidModelRequest(ValueError):
    """The request cannot be sent to the model as asked; retrying will not change that."""


def size(value: Any) -> int:
    """Bytes of `value` as JSON in UTF-8, which is how Step Functions counts its state."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def cut_to_bytes(text: str, limit: int) -> str:
    return text.encode()[: max(0, limit)].decode(errors="ignore")


def text_message(role: str, text: str) -> dict[str, Any]:
    return {"Role": role, "Content": [{"Text": text}]}


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a session, from agent memory."""

    user_text: str
    assistant_text: str

    def messages(self) -> list[dict[str, Any]]:
        return [text_message("user", self.user_text), text_message("assistant", self.assistant_text)]


def invoke_input_of(
    event_type: str, payload: dict[str, Any]
) -> tuple[InvokeInput, list[dict[str, Any]] | None]:
    """The invoke request, and the preprocessed document's chunks when a chained request brings them."""
    if event_type == REQUEST_ACCEPTED:
        raw_input, chunks = payload.get("input"), None
    else:
        raw_input, chunks = payload.get("request_input"), payload.get("chunks", [])
    try:
        return InvokeInput.model_validate(raw_input), chunks
    except ValidationError as error:
        raise InvalidModelRequest(
            f"the invoke input is invalid: {error.errors(include_url=False)}"
        ) from error


def build_model_request(
    request: InvokeInput,
    settings: PrepareSettings,
    chunks: list[dict[str, Any]] | None,
    chunk_texts: Iterable[str],
    turns: Sequence[Turn],
) -> dict[str, Any]:
    """The Converse arguments within the byte budget. Pure: `chunk_texts` is read lazily, in order,
    only as far as the budget goes; `turns` are the session's latest, newest first."""
    model_id = request.model_id or settings.DEFAULT_MODEL_ID
    if model_id not in settings.ALLOWED_MODEL_IDS:
        raise InvalidModelRequest(f"model {model_id!r} is not one of the allowed models")
    inference: dict[str, Any] = {
        "MaxTokens": request.inference.max_tokens,
        "Temperature": request.inference.temperature,
        "TopP": request.inference.top_p,
    }
    if request.inference.stop_sequences:
        inference["StopSequences"] = request.inference.stop_sequences
    prepared: dict[str, Any] = {"model_id": model_id, "prompt": request.prompt, "inference": inference}
    if request.system_prompt:
        prepared["system"] = [{"Text": request.system_prompt}]
    if request.session_id:
        prepared["session_id"] = request.session_id
    # The prompt travels twice (as the question and as the turn memory keeps): count both.
    budget = (
        REQUEST_BUDGET_BYTES - _STRUCTURE_BYTES - size(prepared) - size(text_message("user", request.prompt))
    )
    text = request.prompt
    if chunks is not None:
        document, truncated = _document(chunk_texts, budget - len("\n\n<document>\n\n</document>"))
        text = f"{request.prompt}\n\n<document>\n{document}\n</document>"
        prepared["document"] = {"chunks": len(chunks), "characters": len(document), "truncated": truncated}
        budget -= len(document.encode())
    history = _history(turns, budget)
    prepared["messages"] = [*history, text_message("user", text)]
    prepared["history_turns"] = len(history) // 2
    return prepared


def _document(texts: Iterable[str], budget: int) -> tuple[str, bool]:
    parts: list[str] = []
    used = 0
    for text in texts:
        cost = len(text.encode()) + 2
        if used + cost > budget:
            parts.append(cut_to_bytes(text, budget - used - 2))
            return "\n\n".join(part for part in parts if part), True
        parts.append(text)
        used += cost
    return "\n\n".join(parts), False


def _history(turns: Sequence[Turn], budget: int) -> list[dict[str, Any]]:
    """The latest turns that fit the budget, oldest first, as Converse messages."""
    kept: list[Turn] = []
    for turn in turns:  # newest first
        budget -= size(turn.messages())
        if budget < 0:
            break
        kept.append(turn)
    return [message for turn in reversed(kept) for message in turn.messages()]


class ModelRequestSources:
    """Where a model request's parts come from: the hub's claim checks and the chunks in the lake,
    and the session's turns in agent memory."""

    def __init__(self, s3: S3Client, dynamodb: DynamoDBClient, memory_table: str, memory_turns: int) -> None:
        self._s3 = s3
        self._dynamodb = dynamodb
        self._memory_table = memory_table
        self._memory_turns = memory_turns

    def payload(self, event: HubEvent) -> dict[str, Any]:
        return load_payload(event, self._s3)

    def chunk_texts(self, chunks: list[dict[str, Any]]) -> Iterator[str]:
        for chunk in sorted(chunks, key=lambda item: item["index"]):
            bucket, key = split_s3_uri(chunk["ref"])
            yield self._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()

    def latest_turns(self, subject: str, session_id: str | None) -> list[Turn]:
        if not session_id or self._memory_turns == 0:
            return []
        items = self._dynamodb.query(
            TableName=self._memory_table,
            KeyConditionExpression="session_key = :session",
            ExpressionAttributeValues={":session": {"S": memory_session_key(subject, session_id)}},
            ScanIndexForward=False,
            Limit=self._memory_turns,
        )["Items"]
        return [Turn(item["user_text"]["S"], item["assistant_text"]["S"]) for item in items]


def prepare(event: HubEvent, sources: ModelRequestSources, settings: PrepareSettings) -> dict[str, Any]:
    request, chunks = invoke_input_of(event.event_type, sources.payload(event))
    prepared = build_model_request(
        request,
        settings,
        chunks,
        sources.chunk_texts(chunks or []),
        sources.latest_turns(event.subject, request.session_id),
    )
    logger.info(
        "model request prepared",
        extra={"request_id": event.request_id, "model_id": prepared["model_id"], "bytes": size(prepared)},
    )
    metrics.add_metric(name="ModelRequestsPrepared", unit=MetricUnit.Count, value=1)
    return prepared


@cache
def sources() -> ModelRequestSources:
    settings = load_settings(PrepareSettings)
    return ModelRequestSources(aws.s3(), aws.dynamodb(), settings.AGENT_MEMORY_TABLE, settings.MEMORY_TURNS)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return prepare(HubEventTask.model_validate(event).event, sources(), load_settings(PrepareSettings))
