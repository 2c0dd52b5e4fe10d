"""What the customization microservice offers, as a contract the front door checks requests against.

One capability table, (method, technique, base model) -> backend, decides both where a job
runs and which requests are refused before anything is published. Amazon Bedrock's
CreateModelCustomizationJob runs the managed, parameter-efficient methods; SageMaker AI training
jobs with the Amazon Nova recipes run the rest (DPO, PPO, full-rank training, continued
pre-training). The table reflects the services' documented support for Amazon Nova when it was
written; services add combinations over time, and a new row here is all it takes to offer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, Strict, model_validator


class Method(StrEnum):
    SFT = "sft"  # supervised fine-tuning on conversations
    DPO = "dpo"  # direct preference optimisation on chosen/rejected pairs
    PPO = "ppo"  # RLHF by proximal policy optimisation on prompts
    CPT = "cpt"  # continued pre-training on plain text
    DISTILLATION = "distillation"  # a teacher model's answers to prompts train a student
    RFT = "rft"  # reinforcement fine-tuning on prompts with reference answers


class Technique(StrEnum):
    FULL = "full"  # full-rank: every weight is trained
    LORA = "lora"  # parameter-efficient: low-rank adapters


class Backend(StrEnum):
    BEDROCK = "bedrock"
    SAGEMAKER = "sagemaker"


MICRO, LITE, PRO, PREMIER = (
    "amazon.nova-micro-v1:0",
    "amazon.nova-lite-v1:0",
    "amazon.nova-pro-v1:0",
    "amazon.nova-premier-v1:0",
)
NOVA_UNDERSTANDING = (MICRO, LITE, PRO)

CAPABILITIES: dict[tuple[Method, Technique, str], Backend] = {
    **{(Method.SFT, Technique.LORA, model): Backend.BEDROCK for model in NOVA_UNDERSTANDING},
    **{(Method.SFT, Technique.FULL, model): Backend.SAGEMAKER for model in NOVA_UNDERSTANDING},
    **{
        (Method.DPO, technique, model): Backend.SAGEMAKER
        for technique in Technique
        for model in NOVA_UNDERSTANDING
    },
    **{(Method.PPO, Technique.FULL, model): Backend.SAGEMAKER for model in NOVA_UNDERSTANDING},
    **{(Method.CPT, Technique.FULL, model): Backend.SAGEMAKER for model in NOVA_UNDERSTANDING},
    **{(Method.DISTILLATION, Technique.LORA, model): Backend.BEDROCK for model in NOVA_UNDERSTANDING},
    (Method.RFT, Technique.LORA, LITE): Backend.BEDROCK,
}
# Distillation: the teacher must be a larger Nova model than the student, and one Bedrock offers
# as a teacher.
TEACHERS: dict[str, tuple[str, ...]] = {MICRO: (PRO, PREMIER), LITE: (PRO, PREMIER), PRO: (PREMIER,)}
# Amazon Bedrock customizes a Nova model by the id of the variant it trains (its context length).
BEDROCK_CUSTOMIZATION_BASE_MODEL = {
    MICRO: "amazon.nova-micro-v1:0:128k",
    LITE: "amazon.nova-lite-v1:0:300k",
    PRO: "amazon.nova-pro-v1:0:300k",
}
BEDROCK_CUSTOMIZATION_TYPE = {
    Method.SFT: "FINE_TUNING",
    Method.DISTILLATION: "DISTILLATION",
    Method.CPT: "CONTINUED_PRE_TRAINING",
    Method.RFT: "REINFORCEMENT_FINE_TUNING",
}


@dataclass(frozen=True)
class Bound:
    low: float
    high: float
    default: float | None = None
    integer: bool = True
    only_for: Technique | None = None
    backends: tuple[Backend, ...] = (Backend.BEDROCK, Backend.SAGEMAKER)


_SAGEMAKER = (Backend.SAGEMAKER,)
_COMMON = {
    "epochs": Bound(1, 5, 2),
    "learning_rate": Bound(1e-7, 1e-3, 1e-5, integer=False),
    "warmup_steps": Bound(0, 1000, 10),
    "batch_size": Bound(1, 256, 8),
    # Amazon Bedrock chooses its own adapter shape; the SageMaker recipes expose it.
    "lora_rank": Bound(4, 64, 16, only_for=Technique.LORA, backends=_SAGEMAKER),
    "lora_alpha": Bound(8, 128, 32, only_for=Technique.LORA, backends=_SAGEMAKER),
}
HYPERPARAMETERS: dict[Method, dict[str, Bound]] = {
    Method.SFT: _COMMON,
    Method.DPO: {**_COMMON, "beta": Bound(0.01, 1.0, 0.1, integer=False, backends=_SAGEMAKER)},
    Method.PPO: {**_COMMON, "kl_coefficient": Bound(0.0, 1.0, 0.05, integer=False, backends=_SAGEMAKER)},
    Method.CPT: {**_COMMON, "epochs": Bound(1, 10, 1)},
    Method.DISTILLATION: {"max_response_tokens": Bound(256, 8192, 1024)},
    Method.RFT: {**_COMMON, "epochs": Bound(1, 3, 1)},
}

DATASET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"


class UnsupportedCustomization(ValueError):
    """A combination or setting the customization service does not offer; the message says what it does."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class CustomizeInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method
    technique: Technique = Technique.LORA
    base_model: str = Field(min_length=1, max_length=128)
    dataset_id: str = Field(pattern=DATASET_ID_PATTERN, description="From POST /v1/datasets.")
    validation_dataset_id: str | None = Field(default=None, pattern=DATASET_ID_PATTERN)
    teacher_model: str | None = Field(default=None, description="Distillation only: the model that teaches.")
    hyperparameters: dict[str, Annotated[FiniteFloat, Strict()]] = Field(default_factory=dict)
    output_model_name: str = Field(pattern=MODEL_NAME_PATTERN)

    @model_validator(mode="after")
    def _teacher_only_for_distillation(self) -> CustomizeInput:
        if (self.teacher_model is not None) != (self.method == Method.DISTILLATION):
            raise ValueError("teacher_model is required for distillation and only for distillation")
        return self


def supported_for(method: Method) -> str:
    combinations = sorted(
        f"{technique.value} on {model}" for (m, technique, model) in CAPABILITIES if m == method
    )
    return ", ".join(combinations)


def backend_for(request: CustomizeInput) -> Backend:
    """Where the job runs; refuses what the table does not offer, naming what it does."""
    method, technique, model = request.method.value, request.technique.value, request.base_model
    backend = CAPABILITIES.get((request.method, request.technique, model))
    if backend is None:
        raise UnsupportedCustomization(
            "input",
            f"{method} with {technique} on {model} is not supported; "
            f"{method} supports: {supported_for(request.method)}",
        )
    if request.method == Method.DISTILLATION and request.teacher_model not in TEACHERS.get(
        request.base_model, ()
    ):
        teachers = ", ".join(TEACHERS.get(request.base_model, ())) or "none"
        raise UnsupportedCustomization(
            "input.teacher_model",
            f"{request.teacher_model} cannot teach {request.base_model}; it can learn from: {teachers}",
        )
    return backend


def hyperparameters_for(request: CustomizeInput) -> dict[str, float]:
    """The request's hyperparameters with defaults filled in, each within its method's bounds and
    adjustable where the job runs."""
    bounds, backend = HYPERPARAMETERS[request.method], backend_for(request)
    unknown = sorted(set(request.hyperparameters) - set(bounds))
    if unknown:
        known = ", ".join(bounds)
        raise UnsupportedCustomization(
            "input.hyperparameters",
            f"unknown for {request.method.value}: {', '.join(unknown)}; known: {known}",
        )
    values: dict[str, float] = {}
    for name, bound in bounds.items():
        field = f"input.hyperparameters.{name}"
        applies = bound.only_for in (None, request.technique) and backend in bound.backends
        if not applies:
            if name in request.hyperparameters:
                raise UnsupportedCustomization(
                    field, f"is not adjustable for {request.technique.value} on {backend.value}"
                )
            continue
        value = request.hyperparameters.get(name, bound.default)
        if value is None:
            continue
        if bound.integer and float(value) != int(value):
            raise UnsupportedCustomization(field, f"must be a whole number, not {value}")
        if not bound.low <= value <= bound.high:
            raise UnsupportedCustomization(field, f"{value} is outside {bound.low:g}..{bound.high:g}")
        values[name] = int(value) if bound.integer else float(value)
    return values


DATASETS_PREFIX = "datasets/"


def dataset_key(subject: str, dataset_id: str) -> str:
    """Where a caller's dataset lives in the lake: under their own prefix, so nobody names another's."""
    return f"{DATASETS_PREFIX}{subject}/{dataset_id}.jsonl"


def capability_table_markdown() -> str:
    """The capability table as the README prints it."""
    lines = ["| method | technique | base models | runs on |", "|---|---|---|---|"]
    groups: dict[tuple[Method, Technique, Backend], list[str]] = {}
    for (method, technique, model), backend in CAPABILITIES.items():
        groups.setdefault((method, technique, backend), []).append(model)
    for (method, technique, backend), models in sorted(groups.items()):
        names = ", ".join(f"`{model}`" for model in sorted(models))
        service = "Amazon Bedrock" if backend == Backend.BEDROCK else "SageMaker AI training job"
        lines.append(f"| {method.value} | {technique.value} | {names} | {service} |")
    return "\n".join(lines)
