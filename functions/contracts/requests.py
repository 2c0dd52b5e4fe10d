"""The public request contract: pipelines, their inputs and request statuses.

The front door validates requests with these models, and the pipelines read their input with them,
so a request the front door accepts is one every stage can run.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, model_validator

from contracts.customization import MODEL_NAME_PATTERN, CustomizeInput
from contracts.events import Stage
from contracts.tools import TOOL_NAME_PATTERN


class Pipeline(StrEnum):
    """What a caller asks for (`pipeline` in POST /v1/requests); the template's request model agrees."""

    PREPROCESS = "preprocess"
    INVOKE = "invoke"
    CUSTOMIZE = "customize"
    AGENT = "agent"


PIPELINES: tuple[str, ...] = tuple(pipeline.value for pipeline in Pipeline)
# The stage whose `<stage>.completed` finishes a request of each pipeline.
FINAL_STAGE: dict[str, Stage] = {
    Pipeline.PREPROCESS: Stage.PREPROCESS,
    Pipeline.INVOKE: Stage.INVOKE,
    Pipeline.CUSTOMIZE: Stage.CUSTOMIZATION,
    Pipeline.AGENT: Stage.AGENT,
}

SESSION_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
CHARACTERS_PER_TOKEN = 4
MODEL_ID_PATTERN = r"^[A-Za-z0-9._:/-]{1,256}$"


class RequestStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in (RequestStatus.SUCCEEDED, RequestStatus.FAILED, RequestStatus.CANCELLED)


class Contract(BaseModel):
    """Request bodies reject unknown fields, so a typo is a 400 rather than a silently ignored option.
    Numbers are `strict` (pydantic would otherwise take `false` as 0 and `"8"` as 8): a body off the
    API's own schema is refused, as schemathesis checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Beside a preprocessed document's chunks (work/preprocess/<caller sub>/<request id>/chunk-NNNN.txt),
# preprocess writes all of them in one object, {"chunks": [text, ...]} in order, with their number
# in its metadata (`chunks`): a reader that wants the whole document (the search tool) reads one
# object instead of one per chunk. A request's chunks are made once (a retry writes the same).
ALL_CHUNKS = "chunks.json"


class PreprocessInput(Contract):
    text: str = Field(min_length=1, description="The document to clean up, measure and chunk.")
    chunk_tokens: int = Field(
        default=800, strict=True, ge=50, le=8000, description="Target tokens per chunk."
    )


class InferenceSettings(Contract):
    max_tokens: int = Field(default=512, strict=True, ge=1, le=4096)
    temperature: FiniteFloat = Field(default=0.5, strict=True, ge=0.0, le=1.0)
    top_p: FiniteFloat = Field(default=0.9, strict=True, ge=0.0, le=1.0)
    stop_sequences: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=4
    )

    def for_converse(self) -> dict[str, Any]:
        """Converse's inferenceConfig, in Step Functions' (PascalCase) shape."""
        config: dict[str, Any] = {
            "MaxTokens": self.max_tokens,
            "Temperature": self.temperature,
            "TopP": self.top_p,
        }
        if self.stop_sequences:
            config["StopSequences"] = self.stop_sequences
        return config


# One Converse request travels in the invoke pipeline's state (256 KiB in all), with the
# session's history and any preprocessed document: the caller's own text gets this much of it.
MAX_PROMPT_BYTES = 48 * 1024


class ModelInput(Contract):
    """What every request that talks to a model says: the prompt, the model, the session."""

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_BYTES)
    model_id: str | None = Field(
        default=None, pattern=MODEL_ID_PATTERN, description="One of the deployment's allowed model ids."
    )
    custom_model: str | None = Field(
        default=None,
        pattern=MODEL_NAME_PATTERN,
        description="The name of one of the caller's deployed customized models (GET /v1/models).",
    )
    system_prompt: str | None = Field(default=None, min_length=1, max_length=20_000)
    session_id: str | None = Field(
        default=None,
        pattern=SESSION_ID_PATTERN,
        description="Continue a conversation: earlier turns of this session are sent to the model.",
    )
    inference: InferenceSettings = Field(default_factory=InferenceSettings)

    @model_validator(mode="after")
    def _one_model(self) -> ModelInput:
        if self.model_id is not None and self.custom_model is not None:
            raise ValueError("give model_id or custom_model, not both")
        return self

    @model_validator(mode="after")
    def _fits_one_model_call(self) -> ModelInput:
        size = len(self.prompt.encode()) + len((self.system_prompt or "").encode())
        if size > MAX_PROMPT_BYTES:
            raise ValueError(
                f"prompt and system_prompt take {size} bytes (UTF-8); "
                f"one model call takes at most {MAX_PROMPT_BYTES}"
            )
        return self


class InvokeInput(ModelInput):
    preprocess: PreprocessInput | None = Field(
        default=None,
        description="Run the preprocess pipeline on this document first and give the model its chunks.",
    )


MAX_AGENT_TURNS = 20
MAX_AGENT_TIME_BUDGET_SECONDS = 2700  # template.yaml's AgentTimeBudgetSeconds MaxValue


class AgentInput(ModelInput):
    tools: list[Annotated[str, Field(pattern=TOOL_NAME_PATTERN)]] | None = Field(
        default=None,
        max_length=32,
        description="The registered tools the agent may use (GET /v1/tools); all of them when left out.",
    )
    max_turns: int = Field(
        default=8, strict=True, ge=1, le=MAX_AGENT_TURNS, description="Model calls at most."
    )
    time_budget_seconds: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=MAX_AGENT_TIME_BUDGET_SECONDS,
        description="Seconds of wall clock the run may take; the stack's AgentTimeBudgetSeconds "
        "when left out, and never more than it.",
    )


class PreprocessRequest(Contract):
    pipeline: Literal[Pipeline.PREPROCESS]
    input: PreprocessInput


class InvokeRequest(Contract):
    pipeline: Literal[Pipeline.INVOKE]
    input: InvokeInput


class CustomizeRequest(Contract):
    pipeline: Literal[Pipeline.CUSTOMIZE]
    input: CustomizeInput


class AgentRequest(Contract):
    pipeline: Literal[Pipeline.AGENT]
    input: AgentInput


AnyRequest = PreprocessRequest | InvokeRequest | CustomizeRequest | AgentRequest
SubmitRequest = Annotated[AnyRequest, Field(discriminator="pipeline")]


def estimate_tokens(text: str) -> int:
    """The usual estimate for English text, about four characters a token; the model's tokenizer decides."""
    return -(-len(text) // CHARACTERS_PER_TOKEN)


def stages_of(request: AnyRequest) -> tuple[Stage, ...]:
    """The pipeline stages a request runs through, in order. A chained invoke runs preprocess first."""
    if isinstance(request, InvokeRequest) and request.input.preprocess is not None:
        return (Stage.PREPROCESS, Stage.INVOKE)
    return (FINAL_STAGE[request.pipeline],)


def preprocess_input_of(pipeline: str, request_input: dict[str, Any]) -> PreprocessInput:
    """The preprocess stage's input, whether preprocess is the request's pipeline or a stage before it."""
    if pipeline == Pipeline.PREPROCESS:
        return PreprocessInput.model_validate(request_input)
    chained = InvokeInput.model_validate(request_input).preprocess
    if chained is None:
        raise ValueError(f"a {pipeline} request without input.preprocess has no preprocess stage")
    return chained


def memory_session_key(subject: str, session_id: str) -> str:
    """The agent memory partition of a caller's session: one caller can never read another's."""
    return f"{subject}#{session_id}"
