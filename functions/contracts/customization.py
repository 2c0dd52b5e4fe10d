"""What the customization microservice offers, as a contract the front door checks requests against.

One capability table, (method, technique, base model) -> the services that accept it, decides both
where a job runs and which requests are refused before anything is published: Amazon Bedrock's
CreateModelCustomizationJob, SageMaker AI training jobs with the Amazon Nova recipes, or a recipe's
job on an EKS-orchestrated SageMaker HyperPod cluster. Each row cites the documentation page that
says the service accepts it; services add combinations over time, and a new row is all it takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, Strict, model_validator


class Method(StrEnum):
    SFT = "sft"  # supervised fine-tuning on conversations
    DPO = "dpo"  # direct preference optimisation on preferred / non-preferred candidates
    PPO = "ppo"  # RLHF by proximal policy optimisation on prompts
    CPT = "cpt"  # continued pre-training on plain text
    DISTILLATION = "distillation"  # a teacher model's answers to prompts train a student
    RFT = "rft"  # reinforcement fine-tuning: prompts, reference answers and a grader
    RFT_MULTI_TURN = "rft_multi_turn"  # reinforcement fine-tuning over multi-turn conversations


class Technique(StrEnum):
    FULL = "full"  # full-rank: every weight is trained
    LORA = "lora"  # parameter-efficient: low-rank adapters


class Backend(StrEnum):
    BEDROCK = "bedrock"  # CreateModelCustomizationJob
    SAGEMAKER = "sagemaker"  # SageMaker AI training jobs with a Nova recipe
    HYPERPOD = "hyperpod"  # a Nova recipe's job on an EKS-orchestrated SageMaker HyperPod cluster


MICRO, LITE, PRO, PREMIER = (
    "amazon.nova-micro-v1:0",
    "amazon.nova-lite-v1:0",
    "amazon.nova-pro-v1:0",
    "amazon.nova-premier-v1:0",
)
LITE_2 = "amazon.nova-2-lite-v1:0"
NOVA_1 = (MICRO, LITE, PRO)
NOVA_UNDERSTANDING = (*NOVA_1, LITE_2)

# The customization APIs name a base model by the variant they train: its id with its context length.
# https://docs.aws.amazon.com/nova/latest/userguide/customization.html (Nova 1 ids);
# https://docs.aws.amazon.com/bedrock/latest/userguide/custom-model-fine-tuning.html (Nova 2 Lite's);
# the recipes' `model_type` uses the same ids:
# https://docs.aws.amazon.com/nova/latest/nova2-userguide/nova-sft-2-smhp.html
CUSTOMIZATION_BASE_MODEL = {
    MICRO: "amazon.nova-micro-v1:0:128k",
    LITE: "amazon.nova-lite-v1:0:300k",
    PRO: "amazon.nova-pro-v1:0:300k",
    LITE_2: "amazon.nova-2-lite-v1:0:256k",
}
BEDROCK_CUSTOMIZATION_BASE_MODEL = CUSTOMIZATION_BASE_MODEL

_BEDROCK_FIRST = (Backend.BEDROCK, Backend.SAGEMAKER)
# (method, technique, base model) -> where it can run, the default first. A row is what the page cited
# beside it says the service accepts; a combination missing here is refused before anything is published.
CAPABILITIES: dict[tuple[Method, Technique, str], tuple[Backend, ...]] = {
    # Nova 1: Bedrock fine-tuning (parameter-efficient) and SageMaker training jobs (SFT, LoRA and full).
    # https://docs.aws.amazon.com/nova/latest/userguide/customization.html
    # https://docs.aws.amazon.com/nova/latest/userguide/nova-fine-tune-1.html
    **{(Method.SFT, Technique.LORA, model): _BEDROCK_FIRST for model in NOVA_1},
    **{(Method.SFT, Technique.FULL, model): (Backend.SAGEMAKER,) for model in NOVA_1},
    # Nova 1 only, LoRA and full, on SageMaker training jobs.
    # https://docs.aws.amazon.com/nova/latest/userguide/nova-dpo.html
    # https://docs.aws.amazon.com/sagemaker/latest/dg/nova-fine-tuning-training-job.html
    **{(Method.DPO, technique, model): (Backend.SAGEMAKER,) for technique in Technique for model in NOVA_1},
    # Nova 2 Lite: SFT on Bedrock (https://docs.aws.amazon.com/bedrock/latest/userguide/custom-model-fine-tuning.html)
    # and on SageMaker training jobs (https://docs.aws.amazon.com/sagemaker/latest/dg/nova-fine-tuning-training-job.html).
    (Method.SFT, Technique.LORA, LITE_2): _BEDROCK_FIRST,
    (Method.SFT, Technique.FULL, LITE_2): (Backend.SAGEMAKER,),
    # Bedrock distillation: Micro, Lite and Pro learn; Pro and Premier teach (TEACHERS below).
    # https://docs.aws.amazon.com/bedrock/latest/userguide/prequisites-model-distillation.html
    **{(Method.DISTILLATION, Technique.LORA, model): (Backend.BEDROCK,) for model in NOVA_1},
    # Bedrock RFT: Nova 2 Lite, with a Lambda grader.
    # https://docs.aws.amazon.com/bedrock/latest/userguide/nova-rft.html
    (Method.RFT, Technique.LORA, LITE_2): (Backend.BEDROCK,),
    # SageMaker HyperPod only: CPT (every Nova model), multi-turn RFT (Nova 2 Lite), PPO (Nova 1).
    # https://docs.aws.amazon.com/sagemaker/latest/dg/nova-customization-sdk.html
    # https://docs.aws.amazon.com/sagemaker/latest/dg/nova-hp-training.html
    **{(Method.CPT, Technique.FULL, model): (Backend.HYPERPOD,) for model in NOVA_UNDERSTANDING},
    **{(Method.RFT_MULTI_TURN, technique, LITE_2): (Backend.HYPERPOD,) for technique in Technique},
    # https://docs.aws.amazon.com/nova/latest/userguide/nova-ppo.html
    **{(Method.PPO, Technique.FULL, model): (Backend.HYPERPOD,) for model in NOVA_1},
}
# Distillation: the teacher is a larger Nova model Bedrock offers as a teacher for that student.
# https://docs.aws.amazon.com/bedrock/latest/userguide/prequisites-model-distillation.html
TEACHERS: dict[str, tuple[str, ...]] = {MICRO: (PRO, PREMIER), LITE: (PRO, PREMIER), PRO: (PREMIER,)}
BEDROCK_CUSTOMIZATION_TYPE = {
    Method.SFT: "FINE_TUNING",
    Method.DISTILLATION: "DISTILLATION",
    Method.RFT: "REINFORCEMENT_FINE_TUNING",
}
# A Bedrock-trained model can be deployed for on-demand inference only on these bases; for the others
# provisioned throughput (a purchase by the hour, with a commitment) is the only route, and the hub does
# not buy it for a caller. https://docs.aws.amazon.com/bedrock/latest/userguide/deploy-custom-model-on-demand.html
ON_DEMAND_BASES = NOVA_1


@dataclass(frozen=True)
class Bound:
    low: float
    high: float
    default: float | None = None
    integer: bool = True
    only_for: Technique | None = None
    backends: tuple[Backend, ...] = tuple(Backend)


_RECIPES = (Backend.SAGEMAKER, Backend.HYPERPOD)
_COMMON = {
    "epochs": Bound(1, 5, 2),
    "learning_rate": Bound(1e-7, 1e-3, 1e-5, integer=False),
    "warmup_steps": Bound(0, 1000, 10),
    "batch_size": Bound(1, 256, 8),
    # Amazon Bedrock chooses its own adapter shape; the SageMaker recipes expose it.
    "lora_rank": Bound(4, 64, 16, only_for=Technique.LORA, backends=_RECIPES),
    "lora_alpha": Bound(8, 128, 32, only_for=Technique.LORA, backends=_RECIPES),
}
# Bedrock's RFT takes typed hyperparameters (RFTHyperParameters), not the string map of fine-tuning.
_RFT = {
    "epochs": Bound(1, 3, 1),
    "learning_rate": Bound(1e-7, 1e-3, 1e-5, integer=False),
    "batch_size": Bound(1, 256, 8),
    "samples_per_prompt": Bound(2, 16, 4),
    "max_response_tokens": Bound(256, 8192, 1024),
}
HYPERPARAMETERS: dict[Method, dict[str, Bound]] = {
    Method.SFT: _COMMON,
    Method.DPO: {**_COMMON, "beta": Bound(0.01, 1.0, 0.1, integer=False, backends=_RECIPES)},
    Method.PPO: {**_COMMON, "kl_coefficient": Bound(0.0, 1.0, 0.05, integer=False, backends=_RECIPES)},
    Method.CPT: {**_COMMON, "epochs": Bound(1, 10, 1)},
    Method.DISTILLATION: {"max_response_tokens": Bound(256, 8192, 1024)},
    Method.RFT: _RFT,
    Method.RFT_MULTI_TURN: {**_COMMON, "epochs": Bound(1, 3, 1)},
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
    backend: Backend | None = Field(
        default=None, description="Where to train, when the capability table offers more than one service."
    )
    dry_run: bool = Field(default=False, description="Plan the job and validate the datasets; start nothing.")
    deploy: bool = Field(
        default=False, description="Deploy the trained model for on-demand inference (Amazon Bedrock only)."
    )

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
    backends = CAPABILITIES.get((request.method, request.technique, model))
    if backends is None:
        raise UnsupportedCustomization(
            "input",
            f"{method} with {technique} on {model} is not supported; "
            f"{method} supports: {supported_for(request.method)}",
        )
    backend = request.backend or backends[0]
    if backend not in backends:
        offered = ", ".join(choice.value for choice in backends)
        raise UnsupportedCustomization(
            "input.backend", f"{method} with {technique} on {model} runs on {offered}, not {backend.value}"
        )
    if request.deploy and (backend != Backend.BEDROCK or model not in ON_DEMAND_BASES):
        bases = ", ".join(ON_DEMAND_BASES)
        raise UnsupportedCustomization(
            "input.deploy",
            f"on-demand deployment is offered for models trained on bedrock from {bases}; "
            f"this job trains {model} on {backend.value}",
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
    lines = ["| method | technique | base models | runs on (the first by default) |", "|---|---|---|---|"]
    groups: dict[tuple[Method, Technique, tuple[Backend, ...]], list[str]] = {}
    for (method, technique, model), backends in CAPABILITIES.items():
        groups.setdefault((method, technique, backends), []).append(model)
    for (method, technique, backends), models in sorted(groups.items()):
        names = ", ".join(f"`{model}`" for model in sorted(models))
        services = ", ".join(SERVICE_NAMES[backend] for backend in backends)
        lines.append(f"| {method.value} | {technique.value} | {names} | {services} |")
    return "\n".join(lines)


SERVICE_NAMES = {
    Backend.BEDROCK: "Amazon Bedrock",
    Backend.SAGEMAKER: "SageMaker AI training job",
    Backend.HYPERPOD: "SageMaker HyperPod",
}
