"""Deterministic local stand-ins for Amazon Bedrock and SageMaker training jobs.

moto has no Bedrock runtime, and its customization and training jobs finish the moment they
start. These answer the same wire protocols botocore speaks (so production code has no branch
for them) with predictable results:

- Converse replies are a pure function of the request: the model id, the newest user message,
  and how many earlier turns the conversation carries (so session memory is visible); offered
  tools, the question calls for them (`agenthub.local.tool_use`).
- Customization and training jobs walk a scripted lifecycle: the first status is the job's at
  creation, and each describe call moves it one step (by default: InProgress, InProgress,
  Completed), writing a metrics file to the job's output when it completes.
- Custom model deployments (on-demand inference) are Creating, then Active at the next check; a
  Converse call naming a deployment's ARN is answered as that model, and one naming an unknown or
  inactive deployment is refused, as Bedrock refuses it.
- A SageMaker HyperPod cluster (any cluster ARN asked about) is described as orchestrated by an
  EKS cluster whose Kubernetes API this serves under the control endpoint: the recipes'
  PyTorchJobs are created, read (their conditions walk the same lifecycle as a training job) and
  deleted there, as `eks:call` reaches them.
- Faults are injected with rules (`POST /_agenthub/faults`): an operation, an optional substring
  the request must contain (so a test can aim at its own request), and what to do instead: an
  AWS error, a delay, a blocked or empty reply, a job lifecycle. The same rules reach Lambda
  invocations (operation "Invoke"): a crash, a timeout or a throttle instead of the handler.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from agenthub.local.tool_use import tool_reply

Response = tuple[int, dict[str, str], bytes]
DEFAULT_LIFECYCLE = ("InProgress", "InProgress", "Completed")
# Calls are kept for counting (tests, fault rules' reports); bounded, so a long session stays small.
MAX_RECORDED_CALLS = 2_000
MAX_RECORDED_BODY = 64 * 1024
ERROR_STATUS = {
    "ThrottlingException": 429,
    "ServiceUnavailableException": 503,
    "InternalServerException": 500,
    "ModelTimeoutException": 408,
    "ModelNotReadyException": 429,
    "ModelErrorException": 424,
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ServiceQuotaExceededException": 400,
    "ResourceInUse": 400,
    "ResourceNotFound": 400,
    "ResourceLimitExceeded": 400,
}


@dataclass
class FaultRule:
    operation: str
    match: str = ""
    error: str | None = None
    message: str = ""
    times: int | None = None
    stop_reason: str | None = None
    reply_text: str | None = None
    lifecycle: list[str] | None = None
    delay_seconds: float = 0.0
    function: str = ""  # for "Invoke": part of the function's name
    after_effect: bool = False  # do what was asked, then answer with the error (a lost response)
    failure_message: str = "the training job failed (injected by the local stand-in)"
    hits: int = 0

    def applies(self, operation: str, body: str, target: str = "") -> bool:
        if operation != self.operation or (self.match and self.match not in body):
            return False
        if self.function and self.function not in target:
            return False
        return self.times is None or self.hits < self.times


@dataclass
class Job:
    kind: str  # "bedrock", "sagemaker" or "hyperpod"
    name: str
    arn: str
    request: dict[str, Any]
    lifecycle: list[str]
    failure_message: str
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    describes: int = 0
    stopped: bool = False
    ended: datetime | None = None

    @property
    def status(self) -> str:
        if self.stopped:
            return "Stopped"
        return self.lifecycle[min(self.describes, len(self.lifecycle) - 1)]


def _json(status: int, body: Any, content_type: str = "application/json") -> Response:
    return status, {"Content-Type": content_type}, json.dumps(body, default=str).encode()


def _rest_error(code: str, message: str) -> Response:
    return (
        ERROR_STATUS.get(code, 400),
        {"Content-Type": "application/json", "x-amzn-ErrorType": code},
        json.dumps({"message": message}).encode(),
    )


def _json11_error(code: str, message: str) -> Response:
    return _json(
        ERROR_STATUS.get(code, 400), {"__type": code, "Message": message}, "application/x-amz-json-1.1"
    )


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def converse_reply(model_id: str, request: dict[str, Any]) -> tuple[str, int]:
    """The deterministic reply to a Converse request, and the input token estimate."""
    messages = request.get("messages", [])
    texts = [part.get("text", "") for message in messages for part in message.get("content", [])]
    system = " ".join(part.get("text", "") for part in request.get("system", []))
    user_turns = [m for m in messages if m.get("role") == "user"]
    newest = " ".join(part.get("text", "") for part in (user_turns[-1]["content"] if user_turns else []))
    words = len(newest.split())
    reply = f"[local {model_id}] You sent {words} word{'' if words == 1 else 's'}"
    earlier = len(user_turns) - 1
    if earlier:
        first = " ".join(part.get("text", "") for part in user_turns[0]["content"])
        reply += f"; this conversation has {earlier} earlier turn(s), starting with: {first[:60]!r}"
    reply += f". Opening: {newest[:80]!r}."
    return reply, _tokens(system + " ".join(texts))


@dataclass
class Deployment:
    arn: str
    request: dict[str, Any]
    lifecycle: list[str]
    failure_message: str
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    describes: int = 0

    @property
    def status(self) -> str:
        return self.lifecycle[min(self.describes, len(self.lifecycle) - 1)]


DEFAULT_DEPLOYMENT_LIFECYCLE = ("Creating", "Active")
KUBERNETES_CONDITION = {"InProgress": "Running", "Completed": "Succeeded", "Failed": "Failed"}


def _kubernetes_status(status: int, reason: str, message: str) -> Response:
    return _json(
        status,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": reason,
            "message": message,
            "code": status,
        },
    )


class ModelDeploymentsAndClusters:
    """Bedrock's custom model deployments, and a HyperPod cluster's Kubernetes API (mixed into StandIns)."""

    _lock: threading.Lock
    _region: str
    _account_id: str
    _arn_prefix: str
    _jobs: dict[str, Job]
    _deployments: dict[str, Deployment]

    def rule_for(self, operation: str, body: str, target: str = "") -> FaultRule | None:
        raise NotImplementedError

    def _advance(self, job: Job) -> None:
        raise NotImplementedError

    # -- custom model deployments (CreateCustomModelDeployment, GetCustomModelDeployment) ---------

    def _create_deployment(self, text: str) -> Response:
        rule = self.rule_for("CreateCustomModelDeployment", text)
        if rule and rule.error and not rule.after_effect:
            return _rest_error(rule.error, rule.message or "injected")
        request = json.loads(text)
        with self._lock:
            for deployment in self._deployments.values():
                if request.get("clientRequestToken") and (
                    deployment.request.get("clientRequestToken") == request["clientRequestToken"]
                ):
                    return _json(202, {"customModelDeploymentArn": deployment.arn})
            if not any(
                job.kind == "bedrock"
                and job.status == "Completed"
                and self._model_arn(job) == request["modelArn"]
                for job in self._jobs.values()
            ):
                return _rest_error("ResourceNotFoundException", f"no custom model {request['modelArn']}")
            arn = f"{self._arn_prefix}:custom-model-deployment/{uuid.uuid4().hex[:12]}"
            lifecycle = (
                list(rule.lifecycle) if rule and rule.lifecycle else list(DEFAULT_DEPLOYMENT_LIFECYCLE)
            )
            self._deployments[arn] = Deployment(arn, request, lifecycle, rule.failure_message if rule else "")
        if rule and rule.error:
            return _rest_error(rule.error, rule.message or "injected after the deployment was created")
        return _json(202, {"customModelDeploymentArn": arn})

    def _describe_deployment(self, identifier: str) -> Response:
        rule = self.rule_for("GetCustomModelDeployment", identifier)
        if rule and rule.error:
            return _rest_error(rule.error, rule.message or "injected")
        with self._lock:
            deployment = self._deployments.get(identifier) or next(
                (d for d in self._deployments.values() if d.request["modelDeploymentName"] == identifier),
                None,
            )
            if deployment is None:
                return _rest_error("ResourceNotFoundException", f"no custom model deployment {identifier}")
            deployment.describes += 1
            body: dict[str, Any] = {
                "customModelDeploymentArn": deployment.arn,
                "modelDeploymentName": deployment.request["modelDeploymentName"],
                "modelArn": deployment.request["modelArn"],
                "createdAt": deployment.created.isoformat(),
                "lastUpdatedAt": datetime.now(UTC).isoformat(),
                "status": deployment.status,
            }
            if deployment.status == "Failed":
                body["failureMessage"] = deployment.failure_message
        return _json(200, body)

    def deployment_tags(self, arn: str) -> dict[str, str]:
        """A deployment's tags, as CreateCustomModelDeployment was given them (for tests)."""
        with self._lock:
            deployment = self._deployments.get(arn)
            return {
                tag["key"]: tag["value"] for tag in (deployment.request.get("tags", []) if deployment else [])
            }

    def _model_arn(self, job: Job) -> str:
        raise NotImplementedError

    # -- a HyperPod cluster and its EKS orchestrator --------------------------------------------

    def _describe_hyperpod_cluster(self, text: str) -> Response:
        name = str(json.loads(text or "{}").get("ClusterName", ""))
        cluster_id = name.rsplit("/", 1)[-1]
        arn = (
            name
            if name.startswith("arn:")
            else f"arn:aws:sagemaker:{self._region}:{self._account_id}:cluster/{name}"
        )
        return _json(
            200,
            {
                "ClusterArn": arn,
                "ClusterName": cluster_id,
                "ClusterStatus": "InService",
                "CreationTime": time.time(),
                "InstanceGroups": [],
                "Orchestrator": {
                    "Eks": {
                        "ClusterArn": f"arn:aws:eks:{self._region}:{self._account_id}"
                        f":cluster/{cluster_id}-eks"
                    }
                },
            },
            "application/x-amz-json-1.1",
        )

    def _describe_eks_cluster(self, name: str, host: str) -> Response | None:
        if not name.endswith("-eks"):
            return None  # not a HyperPod orchestrator of ours: moto's EKS answers
        return _json(
            200,
            {
                "cluster": {
                    "name": name,
                    "arn": f"arn:aws:eks:{self._region}:{self._account_id}:cluster/{name}",
                    "endpoint": f"http://{host}/_agenthub/k8s/{name}",
                    "certificateAuthority": {"data": "bG9jYWwgc3RhbmQtaW4gY2x1c3Rlcg=="},
                    "status": "ACTIVE",
                }
            },
        )

    def kubernetes(self, method: str, path: str, body: bytes) -> Response:
        """`/_agenthub/k8s/<cluster>/apis/kubeflow.org/v1/namespaces/<ns>/pytorchjobs[/<name>]`."""
        match = re.fullmatch(
            r"/_agenthub/k8s/([^/]+)/apis/kubeflow\.org/v1/namespaces/([^/]+)/pytorchjobs(?:/([^/]+))?", path
        )
        if match is None:
            return _kubernetes_status(404, "NotFound", f"no Kubernetes API resource at {path}")
        cluster, namespace, name = match.groups()
        text = body.decode() if body else ""
        if method == "POST" and name is None:
            rule = self.rule_for("CreateHyperPodJob", text)
            if rule and rule.error and not rule.after_effect:
                return _kubernetes_status(500, "InternalError", rule.message or "injected")
            manifest = json.loads(text)
            job_name = manifest["metadata"]["name"]
            with self._lock:
                if job_name in self._jobs:
                    return _kubernetes_status(
                        409, "AlreadyExists", f'pytorchjobs "{job_name}" already exists'
                    )
                lifecycle = list(rule.lifecycle) if rule and rule.lifecycle else list(DEFAULT_LIFECYCLE)
                arn = f"k8s://{cluster}/{namespace}/pytorchjobs/{job_name}"
                job = Job(
                    "hyperpod", job_name, arn, manifest, lifecycle, rule.failure_message if rule else ""
                )
                self._jobs[job_name] = job
            if rule and rule.error:
                return _kubernetes_status(
                    500, "InternalError", rule.message or "injected after the job was created"
                )
            return _json(201, manifest)
        with self._lock:
            known = self._jobs.get(name or "")
        if known is None or known.kind != "hyperpod" or known.stopped:
            return _kubernetes_status(404, "NotFound", f'pytorchjobs "{name}" not found')
        return self._pytorch_job(method, known)

    def _pytorch_job(self, method: str, job: Job) -> Response:
        if method == "DELETE":
            with self._lock:
                job.stopped = True
                job.ended = datetime.now(UTC)
            return _json(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
        if method != "GET":
            return _kubernetes_status(405, "MethodNotAllowed", f"{method} is not served here")
        self._rule_for_check(job.name)
        self._advance(job)
        condition: dict[str, Any] = {
            "type": KUBERNETES_CONDITION.get(job.status, "Running"),
            "status": "True",
        }
        if job.status == "Failed":
            condition["message"] = job.failure_message
        return _json(
            200, {**job.request, "status": {"conditions": [{"type": "Created", "status": "True"}, condition]}}
        )

    def _rule_for_check(self, name: str) -> None:
        self.rule_for("GetHyperPodJob", name)


class StandIns(ModelDeploymentsAndClusters):
    def __init__(self, region: str, account_id: str, s3_client: Callable[[], Any]) -> None:
        self._region = region
        self._account_id = account_id
        self._s3_client = s3_client
        self._rules: list[FaultRule] = []
        self._jobs: dict[str, Job] = {}
        self._deployments: dict[str, Deployment] = {}
        self._lock = threading.Lock()
        self.calls: list[tuple[str, str, str]] = []
        self._arn_prefix = f"arn:aws:bedrock:{region}:{account_id}"

    # -- fault rules --------------------------------------------------------------------------

    def add_rule(self, rule: dict[str, Any]) -> FaultRule:
        fault = FaultRule(**rule)
        with self._lock:
            self._rules.append(fault)
        return fault

    def count(self, operation: str, match: str = "", target: str = "") -> int:
        """How many calls of `operation` (whose body contains `match`) the stand-ins have seen."""
        with self._lock:
            return sum(
                1 for op, called, body in self.calls if op == operation and match in body and target in called
            )

    def job_status(self, name: str) -> str | None:
        """A job's status as the service would report it now, without advancing its lifecycle."""
        with self._lock:
            job = self._jobs.get(name)
            return job.status if job else None

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [vars(rule).copy() for rule in self._rules]

    def rule_for(self, operation: str, body: str, target: str = "") -> FaultRule | None:
        """The first rule that applies to this call (counting the hit), after its delay."""
        rule = self._rule_for(operation, body, target)
        if rule and rule.delay_seconds:
            time.sleep(rule.delay_seconds)
        return rule

    def _rule_for(self, operation: str, body: str, target: str = "") -> FaultRule | None:
        with self._lock:
            self.calls.append((operation, target, body[:MAX_RECORDED_BODY]))
            del self.calls[:-MAX_RECORDED_CALLS]
            for rule in self._rules:
                if rule.applies(operation, body, target):
                    rule.hits += 1
                    return rule
        return None

    # -- routing ------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response | None:
        """The stand-in's answer, or None when the request is not one it serves."""
        text = body.decode() if body else ""
        target = headers.get("x-amz-target", "")
        if target.startswith("SageMaker."):
            operation = target.split(".", 1)[1]
            if operation in ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob"):
                return self._sagemaker(operation, text)
            if operation == "DescribeCluster":
                return self._describe_hyperpod_cluster(text)
            return None
        service = _signing_service(headers.get("authorization", ""))
        eks = re.fullmatch(r"/clusters/([^/]+)", path)
        if service == "eks" and eks and method == "GET":
            return self._describe_eks_cluster(unquote(eks.group(1)), headers.get("host", ""))
        if service != "bedrock":
            return None
        if path == "/model-customization/custom-model-deployments" and method == "POST":
            return self._create_deployment(text)
        deployment = re.fullmatch(r"/model-customization/custom-model-deployments/(.+)", path)
        if deployment and method == "GET":
            return self._describe_deployment(unquote(deployment.group(1)))
        converse = re.fullmatch(r"/model/(.+)/converse", path)
        if converse and method == "POST":
            return self._converse(unquote(converse.group(1)), text)
        if path == "/model-customization-jobs" and method == "POST":
            return self._create_bedrock_job(text)
        job = re.fullmatch(r"/model-customization-jobs/([^/]+)(/stop)?", path)
        if job:
            identifier = unquote(job.group(1))
            return (
                self._stop_job("bedrock", identifier)
                if job.group(2)
                else self._describe_bedrock_job(identifier)
            )
        model = re.fullmatch(r"/custom-models/([^/]+)", path)
        if model and method == "GET":
            return self._custom_model(unquote(model.group(1)))
        return None

    # -- Bedrock runtime ----------------------------------------------------------------------

    def _converse(self, model_id: str, text: str) -> Response:
        rule = self.rule_for("Converse", text)
        if rule and rule.error:
            return _rest_error(rule.error, rule.message or f"{rule.error} (injected by the local stand-in)")
        request = json.loads(text or "{}")
        if not request.get("messages"):
            return _rest_error("ValidationException", "messages must not be empty")
        if ":custom-model-deployment/" in model_id:
            deployment = self._deployments.get(model_id)
            if deployment is None or deployment.status != "Active":
                return _rest_error(
                    "ValidationException", f"the model deployment {model_id} does not exist or is not active"
                )
            model_id = f"custom model {deployment.request['modelDeploymentName']}"
        reply, input_tokens = converse_reply(model_id, request)
        stop_reason = "end_turn"
        max_tokens = request.get("inferenceConfig", {}).get("maxTokens")
        if max_tokens and _tokens(reply) > max_tokens:
            reply, stop_reason = reply[: max_tokens * 4], "max_tokens"
        if rule and rule.stop_reason:
            stop_reason = rule.stop_reason
        if rule and rule.reply_text is not None:
            reply = rule.reply_text
        content: list[dict[str, Any]] = [{"text": reply}] if reply else []
        with_tools = (
            tool_reply(request) if not (rule and (rule.reply_text is not None or rule.stop_reason)) else None
        )
        if with_tools is not None:
            content, stop_reason = with_tools
            reply = " ".join(block.get("text", "") for block in content)
        output_tokens = _tokens(reply) if reply else 0
        return _json(
            200,
            {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": stop_reason,
                "usage": {
                    "inputTokens": input_tokens,
                    "outputTokens": output_tokens,
                    "totalTokens": input_tokens + output_tokens,
                },
                "metrics": {"latencyMs": 5},
            },
        )

    # -- jobs ---------------------------------------------------------------------------------

    def _new_job(
        self, kind: str, name: str, arn: str, request: dict[str, Any], rule: FaultRule | None
    ) -> Job:
        lifecycle = list(rule.lifecycle) if rule and rule.lifecycle else list(DEFAULT_LIFECYCLE)
        failure = rule.failure_message if rule else ""
        job = Job(kind, name, arn, request, lifecycle, failure)
        self._jobs[name] = job
        self._jobs[arn] = job
        return job

    def _advance(self, job: Job) -> None:
        """One describe call moves a job one step along its lifecycle."""
        with self._lock:
            if not job.stopped:
                job.describes += 1
            if job.status in ("Completed", "Failed", "Stopped") and job.ended is None:
                job.ended = datetime.now(UTC)
                if job.status == "Completed":
                    self._write_outputs(job)

    def _output_uri(self, job: Job) -> str:
        if job.kind == "bedrock":
            return str(job.request["outputDataConfig"]["s3Uri"]).rstrip("/")
        if job.kind == "hyperpod":
            arguments = job.request["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"][
                "containers"
            ][0]
            output = next(arg for arg in arguments["args"] if arg.startswith("run.output_s3_path="))
            return str(output).split("=", 1)[1].rstrip("/") + f"/{job.name}"
        return str(job.request["OutputDataConfig"]["S3OutputPath"]).rstrip("/") + f"/{job.name}/output"

    def _write_outputs(self, job: Job) -> None:
        bucket, _, prefix = self._output_uri(job)[len("s3://") :].partition("/")
        metrics = "step,training_loss,validation_loss\n1,1.90,1.95\n2,1.20,1.31\n3,0.84,0.97\n"
        key = (
            f"{prefix}/{job.name}/training_metrics.csv" if job.kind == "bedrock" else f"{prefix}/metrics.csv"
        )
        self._s3_client().put_object(Bucket=bucket, Key=key.lstrip("/"), Body=metrics.encode())

    def _create_bedrock_job(self, text: str) -> Response:
        rule = self.rule_for("CreateModelCustomizationJob", text)
        if rule and rule.error and not rule.after_effect:
            return _rest_error(rule.error, rule.message or "injected")
        request = json.loads(text)
        name = request["jobName"]
        if request.get("customizationType") == "REINFORCEMENT_FINE_TUNING" and not (
            request.get("customizationConfig", {})
            .get("rftConfig", {})
            .get("graderConfig", {})
            .get("lambdaGrader", {})
            .get("lambdaArn")
        ):
            return _rest_error("ValidationException", "reinforcement fine-tuning needs a grader (rftConfig)")
        existing = self._jobs.get(name)
        if existing is not None:
            if (
                request.get("clientRequestToken")
                and existing.request.get("clientRequestToken") == request["clientRequestToken"]
            ):
                return _json(201, {"jobArn": existing.arn})
            return _rest_error("ConflictException", f"a model customization job named {name} already exists")
        arn = f"{self._arn_prefix}:model-customization-job/{uuid.uuid4().hex[:12]}"
        self._new_job("bedrock", name, arn, request, rule)
        if rule and rule.error:
            return _rest_error(rule.error, rule.message or "injected after the job was created")
        return _json(201, {"jobArn": arn})

    def _describe_bedrock_job(self, identifier: str) -> Response:
        rule = self.rule_for("GetModelCustomizationJob", identifier)
        if rule and rule.error:
            return _rest_error(rule.error, rule.message or "injected")
        job = self._jobs.get(identifier)
        if job is None or job.kind != "bedrock":
            return _rest_error("ResourceNotFoundException", f"no model customization job {identifier}")
        self._advance(job)
        request = job.request
        body: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "outputModelName": request["customModelName"],
            "roleArn": request["roleArn"],
            "status": job.status,
            "creationTime": job.created.isoformat(),
            "lastModifiedTime": datetime.now(UTC).isoformat(),
            "baseModelArn": self._base_model_arn(request["baseModelIdentifier"]),
            "hyperParameters": request.get("hyperParameters", {}),
            "trainingDataConfig": request["trainingDataConfig"],
            "outputDataConfig": request["outputDataConfig"],
            "customizationType": request.get("customizationType", "FINE_TUNING"),
        }
        if "clientRequestToken" in request:
            body["clientRequestToken"] = request["clientRequestToken"]
        if job.ended:
            body["endTime"] = job.ended.isoformat()
        if job.status == "Completed":
            body["outputModelArn"] = self._model_arn(job)
            body["trainingMetrics"] = {"trainingLoss": 0.84}
            body["validationMetrics"] = [{"validationLoss": 0.97}]
        if job.status == "Failed":
            body["failureMessage"] = job.failure_message
        return _json(200, body)

    def _model_arn(self, job: Job) -> str:
        return (
            f"{self._arn_prefix}:custom-model/{job.request['customModelName']}/{job.arn.rsplit('/', 1)[-1]}"
        )

    def _base_model_arn(self, identifier: str) -> str:
        if identifier.startswith("arn:"):
            return identifier
        return f"arn:aws:bedrock:{self._region}::foundation-model/{identifier}"

    def _custom_model(self, identifier: str) -> Response:
        for job in {id(job): job for job in self._jobs.values()}.values():
            if (
                job.kind == "bedrock"
                and job.status == "Completed"
                and identifier in (self._model_arn(job), job.request["customModelName"])
            ):
                return _json(
                    200,
                    {
                        "modelArn": self._model_arn(job),
                        "modelName": job.request["customModelName"],
                        "jobName": job.name,
                        "jobArn": job.arn,
                        "baseModelArn": job.request["baseModelIdentifier"],
                        "customizationType": job.request.get("customizationType", "FINE_TUNING"),
                        "outputDataConfig": job.request["outputDataConfig"],
                        "creationTime": job.created.isoformat(),
                        "modelStatus": "Active",
                    },
                )
        return _rest_error("ResourceNotFoundException", f"no custom model {identifier}")

    def _stop_job(self, kind: str, identifier: str) -> Response:
        job = self._jobs.get(identifier)
        if job is None or job.kind != kind:
            if kind == "bedrock":
                return _rest_error("ResourceNotFoundException", f"no job {identifier}")
            return _json11_error("ResourceNotFound", f"no training job {identifier}")
        with self._lock:
            if job.status in ("Completed", "Failed", "Stopped"):
                if kind == "bedrock":
                    return _rest_error(
                        "ValidationException", f"job {identifier} has already ended ({job.status})"
                    )
                return _json11_error(
                    "ValidationException", f"job {identifier} has already ended ({job.status})"
                )
            job.stopped = True
            job.ended = datetime.now(UTC)
        return _json(200, {}) if kind == "bedrock" else _json(200, {}, "application/x-amz-json-1.1")

    # -- SageMaker training jobs ----------------------------------------------------------------

    def _sagemaker(self, operation: str, text: str) -> Response:
        rule = self.rule_for(operation, text)
        if rule and rule.error and not rule.after_effect:
            return _json11_error(rule.error, rule.message or "injected")
        request = json.loads(text or "{}")
        name = request.get("TrainingJobName", "")
        if operation == "StopTrainingJob":
            return self._stop_job("sagemaker", name)
        if operation == "CreateTrainingJob":
            if name in self._jobs:
                return _json11_error(
                    "ResourceInUse", f"Training job names must be unique; {name} already exists"
                )
            arn = f"arn:aws:sagemaker:{self._region}:{self._account_id}:training-job/{name.lower()}"
            self._new_job("sagemaker", name, arn, request, rule)
            if rule and rule.error:
                return _json11_error(rule.error, rule.message or "injected after the job was created")
            return _json(200, {"TrainingJobArn": arn}, "application/x-amz-json-1.1")
        job = self._jobs.get(name)
        if job is None or job.kind != "sagemaker":
            return _json11_error("ResourceNotFound", f"Requested resource not found: training job {name}")
        self._advance(job)
        body: dict[str, Any] = {
            "TrainingJobName": job.name,
            "TrainingJobArn": job.arn,
            "TrainingJobStatus": job.status,
            "SecondaryStatus": {
                "InProgress": "Training",
                "Completed": "Completed",
                "Failed": "Failed",
                "Stopped": "Stopped",
            }[job.status],
            "HyperParameters": job.request.get("HyperParameters", {}),
            "AlgorithmSpecification": job.request.get("AlgorithmSpecification", {}),
            "RoleArn": job.request["RoleArn"],
            "OutputDataConfig": job.request["OutputDataConfig"],
            "ResourceConfig": job.request.get("ResourceConfig", {}),
            "StoppingCondition": job.request.get("StoppingCondition", {}),
            "CreationTime": job.created.timestamp(),
            "TrainingStartTime": job.created.timestamp(),
            "LastModifiedTime": time.time(),
            "ModelArtifacts": {"S3ModelArtifacts": f"{self._output_uri(job)}/model.tar.gz"},
        }
        if job.ended:
            body["TrainingEndTime"] = job.ended.timestamp()
        if job.status == "Completed":
            body["FinalMetricDataList"] = [
                {"MetricName": "train:loss", "Value": 0.84, "Timestamp": time.time()}
            ]
        if job.status == "Failed":
            body["FailureReason"] = job.failure_message
        return _json(200, body, "application/x-amz-json-1.1")


def _signing_service(authorization: str) -> str:
    """The service name in a SigV4 Authorization header's credential scope."""
    match = re.search(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request", authorization)
    return match.group(1) if match else ""
