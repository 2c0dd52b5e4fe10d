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
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared import aws
from shared.config import CommaList, Settings, load_settings
from shared.contracts import REQUEST_ACCEPTED, InvokeInput, memory_session_key
from shared.hub import HubEvent, load_payload, split_s3_uri
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# Step Functions' 256 KiB, less room for the model's reply and the execution's other variables.
REQUEST_BUDGET_BYTES = 160 * 1024
# The JSON around the texts (keys, the document's summary, the messages' structure).
_STRUCTURE_BYTES = 1024


class PrepareSettings(Settings):
    ALLOWED_MODEL_IDS: CommaList
    DEFAULT_MODEL_ID: str
    DATA_LAKE_BUCKET: str
    AGENT_MEMORY_TABLE: str
    MEMORY_TURNS: int = Field(default=10, ge=0, le=50)


class InvalidModelRequest(ValueError):
    """The request cannot be sent to the model as asked; retrying will not change that."""


class PrepareTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: HubEvent


def size(value: Any) -> int:
    """Bytes of `value` as JSON in UTF-8, which is how Step Functions counts its state."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def cut_to_bytes(text: str, limit: int) -> str:
    return text.encode()[: max(0, limit)].decode(errors="ignore")


def text_message(role: str, text: str) -> dict[str, Any]:
    return {"Role": role, "Content": [{"Text": text}]}


class RequestPreparer:
    def __init__(self, settings: PrepareSettings, s3: S3Client, dynamodb: DynamoDBClient) -> None:
        self._settings = settings
        self._s3 = s3
        self._dynamodb = dynamodb

    def prepare(self, event: HubEvent) -> dict[str, Any]:
        payload = load_payload(event, self._s3)
        if event.event_type == REQUEST_ACCEPTED:
            raw_input, chunks = payload.get("input"), None
        else:
            raw_input, chunks = payload.get("request_input"), payload.get("chunks", [])
        try:
            request = InvokeInput.model_validate(raw_input)
        except ValidationError as error:
            raise InvalidModelRequest(
                f"the invoke input is invalid: {error.errors(include_url=False)}"
            ) from error
        model_id = request.model_id or self._settings.DEFAULT_MODEL_ID
        if model_id not in self._settings.ALLOWED_MODEL_IDS:
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
            REQUEST_BUDGET_BYTES
            - _STRUCTURE_BYTES
            - size(prepared)
            - size(text_message("user", request.prompt))
        )
        text = request.prompt
        if chunks is not None:
            document, truncated = self._document(chunks, budget - len("\n\n<document>\n\n</document>"))
            text = f"{request.prompt}\n\n<document>\n{document}\n</document>"
            prepared["document"] = {
                "chunks": len(chunks),
                "characters": len(document),
                "truncated": truncated,
            }
            budget -= len(document.encode())
        history = self._history(event.subject, request.session_id, budget) if request.session_id else []
        prepared["messages"] = [*history, text_message("user", text)]
        prepared["history_turns"] = len(history) // 2
        logger.info(
            "model request prepared",
            extra={"request_id": event.request_id, "model_id": model_id, "bytes": size(prepared)},
        )
        metrics.add_metric(name="ModelRequestsPrepared", unit=MetricUnit.Count, value=1)
        return prepared

    def _document(self, chunks: list[dict[str, Any]], budget: int) -> tuple[str, bool]:
        parts: list[str] = []
        used = 0
        for chunk in sorted(chunks, key=lambda item: item["index"]):
            bucket, key = split_s3_uri(chunk["ref"])
            text = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            cost = len(text.encode()) + 2
            if used + cost > budget:
                parts.append(cut_to_bytes(text, budget - used - 2))
                return "\n\n".join(part for part in parts if part), True
            parts.append(text)
            used += cost
        return "\n\n".join(parts), False

    def _history(self, subject: str, session_id: str, budget: int) -> list[dict[str, Any]]:
        """The session's latest turns that fit the budget, oldest first, as Converse messages."""
        if self._settings.MEMORY_TURNS == 0:
            return []
        items = self._dynamodb.query(
            TableName=self._settings.AGENT_MEMORY_TABLE,
            KeyConditionExpression="session_key = :session",
            ExpressionAttributeValues={":session": {"S": memory_session_key(subject, session_id)}},
            ScanIndexForward=False,
            Limit=self._settings.MEMORY_TURNS,
        )["Items"]
        turns: list[list[dict[str, Any]]] = []
        for item in items:  # newest first
            turn = [
                text_message("user", item["user_text"]["S"]),
                text_message("assistant", item["assistant_text"]["S"]),
            ]
            budget -= size(turn)
            if budget < 0:
                break
            turns.append(turn)
        return [message for turn in reversed(turns) for message in turn]


@cache
def preparer() -> RequestPreparer:
    return RequestPreparer(load_settings(PrepareSettings), aws.s3(), aws.dynamodb())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return preparer().prepare(PrepareTask.model_validate(event).event)
