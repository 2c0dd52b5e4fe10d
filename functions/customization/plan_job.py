"""Plan the customization job: route the request by the capability table and build the job request.

Input: the hub event that started the pipeline. Output: the backend, the job's name (derived from
the request id, so a retried start never makes a second job), where the datasets are, and the
service's own job request, ready for the state machine to start as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field, ValidationError

from contracts.customization import (
    BEDROCK_CUSTOMIZATION_BASE_MODEL,
    BEDROCK_CUSTOMIZATION_TYPE,
    Backend,
    CustomizeInput,
    Method,
    Technique,
    UnsupportedCustomization,
    backend_for,
    dataset_key,
    hyperparameters_for,
)
from shared import aws
from shared.config import LakeSettings, load_settings
from shared.hub import HubEvent, HubEventTask, load_payload
from shared.naming import job_name
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client

BEDROCK_HYPERPARAMETER_NAMES = {
    "epochs": "epochCount",
    "learning_rate": "learningRate",
    "warmup_steps": "learningRateWarmupSteps",
    "batch_size": "batchSize",
}
SAGEMAKER_HYPERPARAMETER_NAMES = {
    "epochs": "max_epochs",
    "learning_rate": "lr",
    "warmup_steps": "warmup_steps",
    "batch_size": "global_batch_size",
    "lora_rank": "lora_rank",
    "lora_alpha": "lora_alpha",
    "beta": "beta",
    "kl_coefficient": "kl_coefficient",
}
# A check on the job costs about 20 history events; a Standard execution keeps 25,000.
MAX_POLLS = 1_000
# SageMaker's own ceiling on a training job's run time.
SAGEMAKER_MAX_RUNTIME_SECONDS = 28 * 86_400


class PlanSettings(LakeSettings):
    BEDROCK_CUSTOMIZATION_ROLE_ARN: str
    SAGEMAKER_TRAINING_ROLE_ARN: str
    NOVA_TRAINING_IMAGE_URI: str = ""
    TRAINING_INSTANCE_TYPE: str = "ml.p5.48xlarge"
    JOB_TIME_LIMIT_SECONDS: int = Field(gt=0)
    JOB_POLL_SECONDS: int = Field(gt=0)


class PollingTooOften(ValueError):
    """The time limit and poll interval would outgrow a Standard execution's event history."""


class InvalidCustomization(ValueError):
    """The request cannot be trained as asked; retrying will not change that."""


class BackendNotConfigured(RuntimeError):
    """The deployment lacks a setting the chosen backend needs."""


@dataclass(frozen=True)
class JobInputs:
    """What either backend's job is made of."""

    request_id: str
    request: CustomizeInput
    hyperparameters: dict[str, float]
    name: str
    dataset: str
    validation: str | None
    output: str


class JobPlanner:
    def __init__(self, settings: PlanSettings, s3: S3Client) -> None:
        self._settings = settings
        self._s3 = s3

    def plan(self, event: HubEvent) -> dict[str, Any]:
        polls = self._settings.JOB_TIME_LIMIT_SECONDS // self._settings.JOB_POLL_SECONDS
        if polls > MAX_POLLS:
            raise PollingTooOften(
                f"CustomizationTimeLimitSeconds / CustomizationPollSeconds allows {polls} checks; a Standard "
                f"execution's 25,000-event history holds about {MAX_POLLS}: raise the poll interval"
            )
        try:
            request = CustomizeInput.model_validate(load_payload(event, self._s3).get("input"))
            backend = backend_for(request)
            hyperparameters = hyperparameters_for(request)
        except (ValidationError, UnsupportedCustomization) as error:
            raise InvalidCustomization(str(error)) from error
        bucket = self._settings.DATA_LAKE_BUCKET
        name = job_name(event.request_id)
        dataset = f"s3://{bucket}/{dataset_key(event.subject, request.dataset_id)}"
        validation = (
            f"s3://{bucket}/{dataset_key(event.subject, request.validation_dataset_id)}"
            if request.validation_dataset_id
            else None
        )
        output = f"s3://{bucket}/customization/{event.request_id}/"
        plan: dict[str, Any] = {
            "backend": backend.value,
            "job_name": name,
            "method": request.method.value,
            "technique": request.technique.value,
            "base_model": request.base_model,
            "output_model_name": request.output_model_name,
            "hyperparameters": hyperparameters,
            "datasets": [{"role": "training", "uri": dataset}]
            + ([{"role": "validation", "uri": validation}] if validation else []),
            "output_uri": output,
            "time_limit_seconds": self._settings.JOB_TIME_LIMIT_SECONDS,
        }
        job = JobInputs(event.request_id, request, hyperparameters, name, dataset, validation, output)
        plan["request"] = self._bedrock(job) if backend == Backend.BEDROCK else self._sagemaker(job)
        logger.info("customization planned", extra={"request_id": event.request_id, "backend": backend.value})
        metrics.add_metric(name="CustomizationsPlanned", unit=MetricUnit.Count, value=1)
        return plan

    def _bedrock(self, job: JobInputs) -> dict[str, Any]:
        """CreateModelCustomizationJob's arguments, in Step Functions' PascalCase."""
        request = job.request
        arguments: dict[str, Any] = {
            "JobName": job.name,
            # Custom model names are unique in an account and region: a retraining is a new model.
            "CustomModelName": f"{request.output_model_name[:50]}-{job.request_id[:8]}",
            "RoleArn": self._settings.BEDROCK_CUSTOMIZATION_ROLE_ARN,
            # Bedrock returns the existing job for a repeated token: a retried start makes no second job.
            "ClientRequestToken": job.request_id,
            "BaseModelIdentifier": BEDROCK_CUSTOMIZATION_BASE_MODEL[request.base_model],
            "CustomizationType": BEDROCK_CUSTOMIZATION_TYPE[request.method],
            "TrainingDataConfig": {"S3Uri": job.dataset},
            "OutputDataConfig": {"S3Uri": job.output},
            "HyperParameters": {
                BEDROCK_HYPERPARAMETER_NAMES[key]: str(value)
                for key, value in job.hyperparameters.items()
                if key in BEDROCK_HYPERPARAMETER_NAMES
            },
            "JobTags": [{"Key": "agenthub:request", "Value": job.request_id}],
        }
        if job.validation:
            arguments["ValidationDataConfig"] = {"Validators": [{"S3Uri": job.validation}]}
        if request.method == Method.DISTILLATION:
            arguments["CustomizationConfig"] = {
                "DistillationConfig": {
                    "TeacherModelConfig": {
                        "TeacherModelIdentifier": request.teacher_model,
                        "MaxResponseLengthForInference": int(job.hyperparameters["max_response_tokens"]),
                    }
                }
            }
            arguments.pop("HyperParameters")
        return arguments

    def _sagemaker(self, job: JobInputs) -> dict[str, Any]:
        """CreateTrainingJob's arguments for a Nova recipe."""
        request = job.request
        image = self._settings.NOVA_TRAINING_IMAGE_URI
        if not image:
            raise BackendNotConfigured(
                "this deployment has no NovaTrainingImageUri, so SageMaker-backed methods cannot run"
            )
        channels = [("train", job.dataset)] + ([("validation", job.validation)] if job.validation else [])
        return {
            "TrainingJobName": job.name,
            "RoleArn": self._settings.SAGEMAKER_TRAINING_ROLE_ARN,
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
            "HyperParameters": {
                "recipe": f"nova-{request.method.value}-{request.technique.value}",
                "base_model": request.base_model,
                **{
                    SAGEMAKER_HYPERPARAMETER_NAMES[key]: str(value)
                    for key, value in job.hyperparameters.items()
                },
            },
            "InputDataConfig": [
                {
                    "ChannelName": channel,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": uri,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
                for channel, uri in channels
            ],
            "OutputDataConfig": {"S3OutputPath": job.output},
            "ResourceConfig": {
                "InstanceType": self._settings.TRAINING_INSTANCE_TYPE,
                "InstanceCount": 4 if request.technique == Technique.FULL else 1,
                "VolumeSizeInGB": 200,
            },
            # An hour past the pipeline's own limit: the pipeline stops the job and says why first.
            "StoppingCondition": {
                "MaxRuntimeInSeconds": min(
                    self._settings.JOB_TIME_LIMIT_SECONDS + 3600, SAGEMAKER_MAX_RUNTIME_SECONDS
                )
            },
            "Tags": [
                {"Key": "agenthub:request", "Value": job.request_id},
                {"Key": "agenthub:model-name", "Value": request.output_model_name},
            ],
        }


@cache
def planner() -> JobPlanner:
    return JobPlanner(load_settings(PlanSettings), aws.s3())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return planner().plan(HubEventTask.model_validate(event).event)
