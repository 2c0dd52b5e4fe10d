"""Prepare the model request: the Converse arguments for an invoke request, checked and bounded.

The state machine then loads the session's history and calls Bedrock itself (no Lambda waits on
the model). Input: the hub event that started the pipeline, either the request itself or, for a
chained request, `preprocess.completed` with the document's chunks in the lake.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared import aws
from shared.config import Settings, load_settings
from shared.contracts import REQUEST_ACCEPTED, InvokeInput, memory_session_key
from shared.hub import HubEvent, load_payload, split_s3_uri
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client


class PrepareSettings(Settings):
    ALLOWED_MODEL_IDS: list[str]
    DEFAULT_MODEL_ID: str
    DATA_LAKE_BUCKET: str
    # The whole Converse request travels in the execution's state (256 KiB at most).
    MAX_DOCUMENT_CHARACTERS: int = Field(default=120_000, gt=0, le=200_000)

    @field_validator("ALLOWED_MODEL_IDS", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return (
            [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        )


class InvalidModelRequest(ValueError):
    """The request cannot be sent to the model as asked; retrying will not change that."""


class PrepareTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: HubEvent


class RequestPreparer:
    def __init__(self, settings: PrepareSettings, s3: S3Client) -> None:
        self._settings = settings
        self._s3 = s3

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
        text, document = request.prompt, None
        if chunks is not None:
            body, truncated = self._document(chunks)
            text = f"{request.prompt}\n\n<document>\n{body}\n</document>"
            document = {"chunks": len(chunks), "characters": len(body), "truncated": truncated}
        inference: dict[str, Any] = {
            "MaxTokens": request.inference.max_tokens,
            "Temperature": request.inference.temperature,
            "TopP": request.inference.top_p,
        }
        if request.inference.stop_sequences:
            inference["StopSequences"] = request.inference.stop_sequences
        prepared: dict[str, Any] = {
            "model_id": model_id,
            "prompt": request.prompt,
            "user_message": {"Role": "user", "Content": [{"Text": text}]},
            "inference": inference,
        }
        if request.system_prompt:
            prepared["system"] = [{"Text": request.system_prompt}]
        if request.session_id:
            prepared["session_id"] = request.session_id
            prepared["session_key"] = memory_session_key(event.subject, request.session_id)
        if document:
            prepared["document"] = document
        logger.info("model request prepared", extra={"request_id": event.request_id, "model_id": model_id})
        metrics.add_metric(name="ModelRequestsPrepared", unit=MetricUnit.Count, value=1)
        return prepared

    def _document(self, chunks: list[dict[str, Any]]) -> tuple[str, bool]:
        limit = self._settings.MAX_DOCUMENT_CHARACTERS
        parts: list[str] = []
        size = 0
        for chunk in sorted(chunks, key=lambda item: item["index"]):
            bucket, key = split_s3_uri(chunk["ref"])
            text = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            if size + len(text) > limit:
                parts.append(text[: max(0, limit - size)])
                return "\n\n".join(part for part in parts if part), True
            parts.append(text)
            size += len(text) + 2
        return "\n\n".join(parts), False


@cache
def preparer() -> RequestPreparer:
    return RequestPreparer(load_settings(PrepareSettings), aws.s3())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return preparer().prepare(PrepareTask.model_validate(event).event)
