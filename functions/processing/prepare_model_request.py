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

from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field, ValidationError

from contracts.catalog import CustomModels
from contracts.events import REQUEST_ACCEPTED
from contracts.requests import InvokeInput
from shared import aws
from shared.config import CommaList, LakeSettings, load_settings
from shared.hub import HubEvent, HubEventTask, load_payload, split_s3_uri
from shared.memory import MemoryReader, Turn, history_within, size, text_message
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client

# Step Functions' 256 KiB, less room for the model's reply and the execution's other variables.
REQUEST_BUDGET_BYTES = 160 * 1024
# The JSON around the texts (keys, the document's summary, the messages' structure).
_STRUCTURE_BYTES = 1024


class PrepareSettings(LakeSettings):
    ALLOWED_MODEL_IDS: CommaList
    DEFAULT_MODEL_ID: str
    AGENT_MEMORY_TABLE: str
    CATALOG_TABLE: str
    MEMORY_TURNS: int = Field(default=10, ge=0, le=50)


class InvalidModelRequest(ValueError):
    """The request cannot be sent to the model as asked; retrying will not change that."""


def cut_to_bytes(text: str, limit: int) -> str:
    return text.encode()[: max(0, limit)].decode(errors="ignore")


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
    custom_model_arn: str | None = None,
) -> dict[str, Any]:
    """The Converse arguments within the byte budget. Pure: `chunk_texts` is read lazily, in order,
    only as far as the budget goes; `turns` are the session's latest, newest first; a caller's own
    deployed model comes as its deployment's ARN, Converse's model id for it."""
    model_id = custom_model_arn or request.model_id or settings.DEFAULT_MODEL_ID
    if custom_model_arn is None and model_id not in settings.ALLOWED_MODEL_IDS:
        raise InvalidModelRequest(f"model {model_id!r} is not one of the allowed models")
    inference = request.inference.for_converse()
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
    history = history_within(turns, budget)
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


class ModelRequestSources:
    """Where a model request's parts come from: the hub's claim checks and the chunks in the lake,
    and the session's turns in agent memory."""

    def __init__(self, s3: S3Client, memory: MemoryReader, models: CustomModels) -> None:
        self._s3 = s3
        self.memory = memory
        self.models = models

    def custom_model_arn(self, subject: str, request: InvokeInput) -> str | None:
        """The deployment ARN of the caller's own model the request names, if it names one."""
        if request.custom_model is None:
            return None
        model = self.models.deployed(subject, request.custom_model)
        if model is None or model.deployment_arn is None:
            raise InvalidModelRequest(f"this caller has no deployed model named {request.custom_model!r}")
        return model.deployment_arn

    def payload(self, event: HubEvent) -> dict[str, Any]:
        return load_payload(event, self._s3)

    def chunk_texts(self, chunks: list[dict[str, Any]]) -> Iterator[str]:
        for chunk in sorted(chunks, key=lambda item: item["index"]):
            bucket, key = split_s3_uri(chunk["ref"])
            yield self._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def prepare(event: HubEvent, sources: ModelRequestSources, settings: PrepareSettings) -> dict[str, Any]:
    request, chunks = invoke_input_of(event.event_type, sources.payload(event))
    prepared = build_model_request(
        request,
        settings,
        chunks,
        sources.chunk_texts(chunks or []),
        sources.memory.latest_turns(event.subject, request.session_id),
        sources.custom_model_arn(event.subject, request),
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
    return ModelRequestSources(
        aws.s3(),
        MemoryReader(settings.AGENT_MEMORY_TABLE, aws.dynamodb(), settings.MEMORY_TURNS),
        CustomModels(settings.CATALOG_TABLE, aws.dynamodb()),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return prepare(HubEventTask.model_validate(event).event, sources(), load_settings(PrepareSettings))
