"""Plan the customization job: route the request by the capability table and build the job request.

Input: the hub event that started the pipeline. Output: the backend, the job's name (derived from
the request id, so a retried start never makes a second job), where the datasets are, and the
service's own job request, ready for the state machine to start as it is (or, for a dry run, to
report as the job it would have started): Bedrock's CreateModelCustomizationJob, SageMaker's
CreateTrainingJob, or the recipe's Kubernetes job for a HyperPod cluster's EKS API.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field, ValidationError

from contracts.customization import (
    BEDROCK_CUSTOMIZATION_TYPE,
    CUSTOMIZATION_BASE_MODEL,
    SERVICE_NAMES,
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
# Bedrock RFT's typed hyperparameters (RFTHyperParameters in the API reference).
RFT_HYPERPARAMETER_NAMES = {
    "epochs": "EpochCount",
    "learning_rate": "LearningRate",
    "batch_size": "BatchSize",
    "samples_per_prompt": "TrainingSamplePerPrompt",
    "max_response_tokens": "InferenceMaxTokens",
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
    RFT_GRADER_FUNCTION_ARN: str
    HYPERPOD_CLUSTER_ARN: str = ""
    HYPERPOD_NAMESPACE: str = "kubeflow"
    STACK_NAME: str


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
    def __init__(
        self, settings: PlanSettings, s3: S3Client, clusters: HyperPodClusters | None = None
    ) -> None:
        self._settings = settings
        self._s3 = s3
        self._clusters = clusters or HyperPodClusters()

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
            "dry_run": request.dry_run,
            "deploy": request.deploy,
            "service": SERVICE_NAMES[backend],
        }
        job = JobInputs(event.request_id, request, hyperparameters, name, dataset, validation, output)
        if backend == Backend.BEDROCK:
            plan["api_call"] = "bedrock:CreateModelCustomizationJob"
            plan["request"] = self._bedrock(job)
        elif backend == Backend.SAGEMAKER:
            plan["api_call"] = "sagemaker:CreateTrainingJob"
            plan["request"] = self._sagemaker(job)
        else:
            plan.update(self._hyperpod(job))
        if request.deploy:
            plan["deployment"] = {
                # Deployment names are unique in an account and region, like custom model names.
                "ModelDeploymentName": f"{request.output_model_name[:50]}-{job.request_id[:8]}",
                "ClientRequestToken": f"deploy-{job.request_id}",
                "Tags": [
                    {"Key": "agenthub:stack", "Value": self._settings.STACK_NAME},
                    {"Key": "agenthub:request", "Value": job.request_id},
                ],
            }
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
            "BaseModelIdentifier": CUSTOMIZATION_BASE_MODEL[request.base_model],
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
        if request.method == Method.RFT:
            # Bedrock calls the grader with each sampled answer; the grader's contract is in rft_grader.
            # https://docs.aws.amazon.com/bedrock/latest/userguide/reward-functions.html
            arguments["CustomizationConfig"] = {
                "RftConfig": {
                    "GraderConfig": {"LambdaGrader": {"LambdaArn": self._settings.RFT_GRADER_FUNCTION_ARN}},
                    "HyperParameters": {
                        RFT_HYPERPARAMETER_NAMES[key]: value for key, value in job.hyperparameters.items()
                    },
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
                "base_model": CUSTOMIZATION_BASE_MODEL[request.base_model],
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

    def _hyperpod(self, job: JobInputs) -> dict[str, Any]:
        """The recipe's job as a Kubeflow PyTorchJob, the kind the HyperPod CLI starts on an
        EKS-orchestrated cluster (https://github.com/aws/sagemaker-hyperpod-cli), and the cluster's
        Kubernetes API for Step Functions' eks:call
        (https://docs.aws.amazon.com/step-functions/latest/dg/connect-eks.html)."""
        settings, request = self._settings, job.request
        if not settings.HYPERPOD_CLUSTER_ARN:
            raise BackendNotConfigured(
                "this deployment has no HyperPodClusterArn, so the HyperPod methods "
                "(cpt, ppo, rft_multi_turn) cannot run"
            )
        if not settings.NOVA_TRAINING_IMAGE_URI:
            raise BackendNotConfigured(
                "this deployment has no NovaTrainingImageUri for the recipe's container"
            )
        cluster = self._clusters.kubernetes_api(settings.HYPERPOD_CLUSTER_ARN)
        namespace = settings.HYPERPOD_NAMESPACE
        overrides = [
            f"recipes=nova-{request.method.value.replace('_', '-')}-{request.technique.value}",
            f"run.model_type={CUSTOMIZATION_BASE_MODEL[request.base_model]}",
            f"run.data_s3_path={job.dataset}",
            f"run.output_s3_path={job.output}",
            *(f"run.validation_data_s3_path={job.validation}" for _ in [job.validation] if job.validation),
            *(f"training_config.{key}={value}" for key, value in sorted(job.hyperparameters.items())),
        ]
        manifest = {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {
                "name": job.name,
                "namespace": namespace,
                "labels": {
                    "agenthub/request": job.request_id,
                    "agenthub/stack": settings.STACK_NAME,
                    "agenthub/model-name": request.output_model_name,
                },
            },
            "spec": {
                "runPolicy": {"activeDeadlineSeconds": settings.JOB_TIME_LIMIT_SECONDS + 3600},
                "pytorchReplicaSpecs": {
                    "Worker": {
                        "replicas": 4 if request.technique == Technique.FULL else 1,
                        "restartPolicy": "OnFailure",
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "pytorch",
                                        "image": settings.NOVA_TRAINING_IMAGE_URI,
                                        "args": overrides,
                                    }
                                ]
                            }
                        },
                    }
                },
            },
        }
        jobs = f"/apis/kubeflow.org/v1/namespaces/{namespace}/pytorchjobs"
        return {
            "api_call": f"eks:call POST {jobs}",
            "cluster": {**cluster, "HyperPodClusterArn": settings.HYPERPOD_CLUSTER_ARN},
            "jobs_path": jobs,
            "job_path": f"{jobs}/{job.name}",
            "request": manifest,
        }


class HyperPodClusters:
    """Where a HyperPod cluster's Kubernetes API is: its EKS orchestrator's endpoint and CA."""

    def kubernetes_api(self, cluster_arn: str) -> dict[str, str]:
        described = aws.sagemaker().describe_cluster(ClusterName=cluster_arn)
        eks_arn = described.get("Orchestrator", {}).get("Eks", {}).get("ClusterArn")
        if not eks_arn:
            raise BackendNotConfigured(
                f"the HyperPod cluster {cluster_arn} is not orchestrated by Amazon EKS"
            )
        eks_name = eks_arn.rsplit("/", 1)[-1]
        eks = aws.eks().describe_cluster(name=eks_name)["cluster"]
        return {
            "ClusterName": eks_name,
            "Endpoint": eks["endpoint"],
            "CertificateAuthority": eks["certificateAuthority"]["data"],
        }


@cache
def planner() -> JobPlanner:
    return JobPlanner(load_settings(PlanSettings), aws.s3())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return planner().plan(HubEventTask.model_validate(event).event)
