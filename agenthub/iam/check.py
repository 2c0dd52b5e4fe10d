"""The IAM check: every role in the stack allows what its principal does, and nothing more.

moto evaluates no IAM, so a missing permission passes every emulated test and fails on AWS. This
reads the deployed template (every intrinsic resolved, `agenthub.local.deploy.Stack`) and the code
(`agenthub.iam.code`) and, for each principal, compares what it needs with what its role allows:

- a function needs what its handler can reach (`agenthub.iam.access`), what libraries do for it
  (Powertools Idempotency), KMS for the encrypted topics it publishes to, its SQS event source,
  its log group and X-Ray;
- a state machine needs its task integrations, CloudWatch Logs delivery and X-Ray;
- a service role (one a function hands to Bedrock or SageMaker) needs what that service does.

Findings: a need the role does not allow; an action or resource in the template's own policies
that no need uses; a wildcard action; a call site the access model does not know, or an entry of
it no code makes. AWS managed policies that SAM attaches are the documented baseline and are not
held to the "nothing unused" rule (their contents are listed below for the needs they meet).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agenthub.iam.access import (
    AWS_CALLING_LIBRARIES,
    CALLS,
    LIBRARIES,
    Arn,
    ArnIn,
    Bucket,
    Env,
    ImageRepository,
    LakeObject,
    MissingSetting,
    Need,
    NotNeeded,
    Resource,
)
from agenthub.iam.code import FUNCTIONS_DIR, CodeMap
from agenthub.iam.policy import Policies
from agenthub.iam.roles import role_named_by, role_policies
from agenthub.local.deploy import Stack

# CloudWatch Logs delivery for a state machine's logging configuration; no resource-level permissions:
# https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
XRAY_ACTIONS = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)
# Lambda's SQS event source reads and deletes with the function's role:
# https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions
SQS_POLLER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
# What Lambda does as the function's role to deliver an asynchronous invocation's outcome, by service:
# https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
DESTINATION_ACTIONS = {
    "sqs": "sqs:SendMessage",
    "sns": "sns:Publish",
    "lambda": "lambda:InvokeFunction",
    "events": "events:PutEvents",
    "s3": "s3:PutObject",
}


@dataclass(frozen=True, order=True)
class Finding:
    principal: str  # the function, state machine or role, by logical id
    kind: str  # missing | unused | wildcard | unmodelled | stale | untyped | setting
    detail: str

    def __str__(self) -> str:
        return f"{self.principal}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class Required:
    """One thing a principal needs, and why (a call site, a library, the runtime)."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    because: str = ""


@dataclass
class Principal:
    logical_id: str
    role: str
    needs: list[Required] = field(default_factory=list)


@dataclass
class Report:
    principals: list[Principal] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def of_kind(self, kind: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.kind == kind]


class IamCheck:
    def __init__(self, stack: Stack, code: CodeMap, beside: Sequence[Stack] = ()) -> None:
        self.stack = stack
        self.code = code
        # Stacks this one imports from (a tool stack's hub): their topics and keys are what it uses.
        self.beside = tuple(beside)
        self.report = Report()

    # -- facts about the stack ---------------------------------------------------------------

    def _of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: self.stack.properties[name] for name, t in self.stack.types.items() if t == kind}

    def role_policies(self, role: str, own_only: bool = False) -> Policies:
        return role_policies(self.stack, role, own_only)

    def _env(self, variables: dict[str, str] | None = None) -> Env:
        return Env(self.stack.region, self.stack.account_id, variables or {})

    # -- needs -----------------------------------------------------------------------------------

    def _need(self, principal: Principal, need: Need, env: Env, because: str) -> None:
        try:
            resources = need.resource.resolve_all(env)
        except NotNeeded:
            return
        except MissingSetting as missing:
            self.report.findings.append(
                Finding(principal.logical_id, "setting", f"{because} needs the setting {missing.args[0]}")
            )
            return
        context = tuple(sorted(need.context.items()))
        principal.needs.extend(Required(need.action, resource, context, because) for resource in resources)

    def _direct(self, principal: Principal, action: str, resource: str, because: str, **context: str) -> None:
        principal.needs.append(Required(action, resource, tuple(sorted(context.items())), because))

    def function_needs(self, logical_id: str) -> Principal:
        spec = self.stack.functions[logical_id]
        properties = self.stack.properties[logical_id]
        principal = Principal(logical_id, role_named_by(self.stack, spec.role_arn))
        env = self._env(spec.environment)
        for call in sorted(self.code.aws_calls_from(spec.handler)):
            needs = CALLS.get((call.site, call.key))
            if needs is None:
                continue  # reported once, for the whole code base, by unmodelled_calls()
            for need in needs:
                self._need(principal, need, env, f"{call.site} calls {call.key} ({call.where})")
        for use in sorted(self.code.library_uses_from(spec.handler)):
            if use.symbol not in AWS_CALLING_LIBRARIES:
                continue
            needs = LIBRARIES.get((use.site, use.symbol))
            if needs is None:
                self.report.findings.append(
                    Finding(
                        logical_id,
                        "unmodelled",
                        f"{use.site} uses {use.symbol}, which the access model lacks",
                    )
                )
                continue
            for need in needs:
                self._need(principal, need, env, f"{use.site} uses {use.symbol.rsplit('.', 1)[-1]}")
        self._publishing_to_encrypted_topics(principal)
        self._event_sources(principal, spec.name, spec.arn)
        self._async_destinations(principal, spec.name, spec.arn)
        log_group = properties.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{spec.name}"
        region, account = self.stack.region, self.stack.account_id
        stream = f"arn:aws:logs:{region}:{account}:log-group:{log_group}:log-stream:example"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            self._direct(principal, action, stream, "the Lambda runtime writes the function's logs")
        if properties.get("TracingConfig", {}).get("Mode") == "Active":
            for action in XRAY_ACTIONS[:2]:
                self._direct(principal, action, "*", "active tracing")
        return principal

    def _publishing_to_encrypted_topics(self, principal: Principal) -> None:
        topics = {
            stack.ref(name): props
            for stack in (self.stack, *self.beside)
            for name, kind in stack.types.items()
            if kind == "AWS::SNS::Topic"
            for props in (stack.properties[name],)
        }
        for required in list(principal.needs):
            topic = topics.get(required.resource) if required.action == "sns:Publish" else None
            key = topic.get("KmsMasterKeyId") if topic else None
            if key:
                # SNS encrypts each message with a data key from the topic's KMS key, as the publisher.
                arn = self._key_arn(key)
                for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                    self._direct(
                        principal, action, arn, f"publishing to the encrypted topic {required.resource}"
                    )

    def _key_arn(self, key: str) -> str:
        for stack in (self.stack, *self.beside):
            for name, kind in stack.types.items():
                attributes = stack.resources[name].attributes
                if kind == "AWS::KMS::Key" and key in (stack.ref(name), attributes.get("Arn")):
                    return str(attributes["Arn"])
        return key

    def _event_sources(self, principal: Principal, name: str, arn: str) -> None:
        for source in self.stack.event_sources:
            if source.function_name in (name, arn, principal.logical_id):
                for action in SQS_POLLER_ACTIONS:
                    self._direct(
                        principal, action, source.queue_arn, f"the SQS event source {source.logical_id}"
                    )

    def _async_destinations(self, principal: Principal, name: str, arn: str) -> None:
        """Lambda sends an asynchronous invocation's outcome to its destination as the function's role."""
        for logical_id, kind in self.stack.types.items():
            properties = self.stack.properties[logical_id]
            if kind != "AWS::Lambda::EventInvokeConfig" or properties.get("FunctionName") not in (
                name,
                arn,
                principal.logical_id,
            ):
                continue
            for outcome, destination in properties.get("DestinationConfig", {}).items():
                target = str(destination.get("Destination", ""))
                action = DESTINATION_ACTIONS.get(target.split(":")[2] if target.count(":") >= 2 else "")
                if action:
                    self._direct(principal, action, target, f"the {outcome} destination of {logical_id}")

    def state_machine_needs(self, logical_id: str) -> Principal:
        properties = self.stack.properties[logical_id]
        principal = Principal(logical_id, role_named_by(self.stack, properties["RoleArn"]))
        definition = properties.get("Definition") or json.loads(properties["DefinitionString"])
        text = json.dumps(definition)
        for key, value in properties.get("DefinitionSubstitutions", {}).items():
            text = text.replace("${" + key + "}", str(value))
        for state_name, state in _task_states(json.loads(text)):
            self._task_needs(principal, state_name, state)
        logging = properties.get("LoggingConfiguration", {})
        if logging.get("Destinations"):
            for action in LOG_DELIVERY_ACTIONS:
                self._direct(principal, action, "*", "execution logs delivered to CloudWatch Logs")
        if properties.get("TracingConfiguration", {}).get("Enabled"):
            for action in XRAY_ACTIONS:
                self._direct(principal, action, "*", "X-Ray tracing")
        return principal

    def _task_needs(self, principal: Principal, state_name: str, state: dict[str, Any]) -> None:
        resource = str(state["Resource"]).removesuffix(".sync").removesuffix(".waitForTaskToken")
        arguments = state.get("Arguments") or state.get("Parameters") or {}
        because = f"state {state_name!r} ({resource.rsplit(':::', 1)[-1]})"
        region, account = self.stack.region, self.stack.account_id
        if resource == "arn:aws:states:::lambda:invoke":
            function = str(arguments["FunctionName"])
            if not function.startswith("arn:"):
                function = f"arn:aws:lambda:{region}:{account}:function:{function}"
            self._direct(principal, "lambda:InvokeFunction", function, because)
            return
        if resource.startswith("arn:aws:states:::dynamodb:"):
            operation = resource.rsplit(":", 1)[-1]
            table = f"arn:aws:dynamodb:{region}:{account}:table/{arguments['TableName']}"
            self._direct(principal, f"dynamodb:{operation[0].upper()}{operation[1:]}", table, because)
            return
        integration = INTEGRATIONS.get(resource)
        if integration is None:
            self.report.findings.append(
                Finding(
                    principal.logical_id,
                    "unmodelled",
                    f"{because}: the IAM check has no entry for {resource}",
                )
            )
            return
        for need in integration(self):
            self._need(principal, need, self._env(), because)

    def service_role_needs(self) -> list[Principal]:
        """Roles a function hands to a service (by an environment variable naming the role's ARN)."""
        principals = []
        roles = {
            self.stack.resources[name].attributes["Arn"]: name for name in self._of_type("AWS::IAM::Role")
        }
        for spec in self.stack.functions.values():
            for value in spec.environment.values():
                role = roles.get(value)
                if role is None:
                    continue
                service = _trusted_service(self.stack.properties[role])
                principal = Principal(role, role)
                for need in SERVICE_ROLES.get(service, ()):
                    self._need(principal, need, self._env(spec.environment), f"{service} runs jobs with it")
                if service not in SERVICE_ROLES:
                    self.report.findings.append(
                        Finding(
                            role, "unmodelled", f"a role for {service}, which the IAM check does not model"
                        )
                    )
                principals.append(principal)
        return principals

    def trusted_roles(self, service: str) -> list[str]:
        return [
            str(self.stack.resources[name].attributes["Arn"])
            for name, props in self._of_type("AWS::IAM::Role").items()
            if _trusted_service(props) == service
        ]

    # -- comparing ----------------------------------------------------------------------------

    def run(self) -> Report:
        principals = [self.function_needs(name) for name in sorted(self.stack.functions)]
        principals += [
            self.state_machine_needs(name)
            for name in sorted(self._of_type("AWS::StepFunctions::StateMachine"))
        ]
        principals += self.service_role_needs()
        for principal in principals:
            self._compare(principal)
        self.report.principals = principals
        self._code_against_model()
        self.report.findings.sort()
        return self.report

    def _compare(self, principal: Principal) -> None:
        granted = self.role_policies(principal.role)
        for required in principal.needs:
            if not granted.allows(required.action, required.resource, dict(required.context)):
                self.report.findings.append(
                    Finding(
                        principal.logical_id,
                        "missing",
                        f"{required.action} on {required.resource} is not allowed by {principal.role} "
                        f"(needed by {required.because})",
                    )
                )
        for statement in self.role_policies(principal.role, own_only=True).statements:
            if statement.effect != "Allow":
                continue
            used = [r for r in principal.needs if statement.applies(r.action, r.resource, dict(r.context))]
            for action in statement.actions:
                if "*" in action or "?" in action:
                    self.report.findings.append(
                        Finding(
                            principal.logical_id, "wildcard", f"{statement.source} allows the action {action}"
                        )
                    )
                if not any(_glob(action, r.action, case_sensitive=False) for r in used):
                    self.report.findings.append(
                        Finding(
                            principal.logical_id,
                            "unused",
                            f"{statement.source} allows {action}, which nothing needs",
                        )
                    )
            for resource in statement.resources:
                if not any(_glob(resource, r.resource) for r in used):
                    self.report.findings.append(
                        Finding(
                            principal.logical_id,
                            "unused",
                            f"{statement.source} allows {', '.join(statement.actions)} on {resource}, "
                            "which nothing needs",
                        )
                    )

    def _code_against_model(self) -> None:
        calls = self.code.all_calls()
        keys = {(call.site, call.key) for call in calls}
        for call in sorted(calls):
            if (call.site, call.key) not in CALLS:
                self.report.findings.append(
                    Finding(
                        "functions/",
                        "unmodelled",
                        f"{call.where}: {call.site} calls {call.key}; "
                        "add what it needs to agenthub/iam/access.py",
                    )
                )
        for site, key in sorted(set(CALLS) - keys):
            self.report.findings.append(
                Finding("functions/", "stale", f"access model entry ({site}, {key}): no code makes this call")
            )
        for untyped in self.code.untyped:
            self.report.findings.append(Finding("functions/", "untyped", untyped))


def _glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    from agenthub.iam.policy import matches

    return matches(pattern, value, case_sensitive)


def _trusted_service(role_properties: dict[str, Any]) -> str:
    for statement in role_properties["AssumeRolePolicyDocument"].get("Statement", []):
        services = statement.get("Principal", {}).get("Service", [])
        for service in [services] if isinstance(services, str) else services:
            return str(service)
    return "unknown"


def _task_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition.get("States", {}).items():
        if state.get("Type") == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from _task_states(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _task_states(state[key])


# -- what each Step Functions integration needs ---------------------------------------------------


@contextmanager
def _functions_importable() -> Iterator[None]:
    """The capability table lives with the Lambda code (functions/ is a Lambda task root, not a package)."""
    added = str(FUNCTIONS_DIR) not in sys.path
    if added:
        sys.path.insert(0, str(FUNCTIONS_DIR))
    try:
        yield
    finally:
        if added:
            sys.path.remove(str(FUNCTIONS_DIR))


def _bedrock_base_models() -> list[str]:
    """Every model a Bedrock customization job may name: the base models and distillation teachers."""
    with _functions_importable():
        contract = importlib.import_module("contracts.customization")
    teachers = {teacher for choices in contract.TEACHERS.values() for teacher in choices}
    return sorted(set(contract.BEDROCK_CUSTOMIZATION_BASE_MODEL.values()) | teachers)


def _foundation_model(model_id: str) -> Resource:
    return Arn("arn:{partition}:bedrock:{region}::foundation-model/" + model_id)


def _listed(check: IamCheck, parameter: str) -> list[str]:
    value = check.stack.parameters.get(parameter) or ""
    return [
        part.strip()
        for part in (value if isinstance(value, str) else ",".join(value)).split(",")
        if part.strip()
    ]


def _converse(check: IamCheck) -> Iterable[Need]:
    # https://docs.aws.amazon.com/bedrock/latest/userguide/inference-prereq.html
    for model in _listed(check, "AllowedModelIds"):
        yield Need("bedrock:InvokeModel", _foundation_model(model))
    for profile in _listed(check, "AllowedInferenceProfileIds"):
        # Through a profile: the profile itself, and the model it routes to in whichever region serves it.
        yield Need(
            "bedrock:InvokeModel",
            Arn("arn:{partition}:bedrock:{region}:{account}:inference-profile/" + profile),
            {"aws:ResourceAccount": check.stack.account_id},
        )
        routed = profile.split(".", 1)[1]
        yield Need(
            "bedrock:InvokeModel", Arn("arn:{partition}:bedrock:us-west-2::foundation-model/" + routed)
        )
    # A caller's own customized model, by its deployment: only this stack's (tagged when deployed).
    # https://docs.aws.amazon.com/bedrock/latest/userguide/deploy-custom-model-on-demand.html
    yield Need(
        "bedrock:InvokeModel",
        Arn("arn:{partition}:bedrock:{region}:{account}:custom-model-deployment/example"),
        {"aws:ResourceTag/agenthub:stack": check.stack.name},
    )


_BEDROCK_JOB = Arn("arn:{partition}:bedrock:{region}:{account}:model-customization-job/example")
_TRAINING_JOB = Arn("arn:{partition}:sagemaker:{region}:{account}:training-job/agenthub-example")


def _create_bedrock_job(check: IamCheck) -> Iterable[Need]:
    # https://docs.aws.amazon.com/bedrock/latest/userguide/custom-model-job-access-security.html
    yield Need("bedrock:CreateModelCustomizationJob", _BEDROCK_JOB)
    yield Need(
        "bedrock:CreateModelCustomizationJob",
        Arn("arn:{partition}:bedrock:{region}:{account}:custom-model/example"),
    )
    for model in _bedrock_base_models():
        yield Need("bedrock:CreateModelCustomizationJob", _foundation_model(model))
    yield Need("bedrock:TagResource", _BEDROCK_JOB)  # the plan tags every job with its request
    for role in check.trusted_roles("bedrock.amazonaws.com"):
        yield Need("iam:PassRole", Arn(role), {"iam:PassedToService": "bedrock.amazonaws.com"})


def _create_training_job(check: IamCheck) -> Iterable[Need]:
    # https://docs.aws.amazon.com/sagemaker/latest/dg/api-permissions-reference.html
    yield Need("sagemaker:CreateTrainingJob", _TRAINING_JOB)
    yield Need("sagemaker:AddTags", _TRAINING_JOB)  # the plan tags every job with its request
    for role in check.trusted_roles("sagemaker.amazonaws.com"):
        yield Need("iam:PassRole", Arn(role), {"iam:PassedToService": "sagemaker.amazonaws.com"})


_DEPLOYMENT = Arn("arn:{partition}:bedrock:{region}:{account}:custom-model-deployment/example")


def _create_deployment(_: IamCheck) -> Iterable[Need]:
    # https://docs.aws.amazon.com/bedrock/latest/userguide/deploy-custom-model-on-demand.html
    yield Need("bedrock:CreateCustomModelDeployment", _DEPLOYMENT)
    yield Need(
        "bedrock:CreateCustomModelDeployment",
        Arn("arn:{partition}:bedrock:{region}:{account}:custom-model/example"),
    )
    yield Need("bedrock:TagResource", _DEPLOYMENT)  # the stack's tag, which invoking is scoped by


INTEGRATIONS: dict[str, Callable[[IamCheck], Iterable[Need]]] = {
    "arn:aws:states:::aws-sdk:bedrockruntime:converse": _converse,
    "arn:aws:states:::aws-sdk:bedrock:createModelCustomizationJob": _create_bedrock_job,
    "arn:aws:states:::aws-sdk:bedrock:getModelCustomizationJob": lambda _: [
        Need("bedrock:GetModelCustomizationJob", _BEDROCK_JOB)
    ],
    "arn:aws:states:::aws-sdk:bedrock:stopModelCustomizationJob": lambda _: [
        Need("bedrock:StopModelCustomizationJob", _BEDROCK_JOB)
    ],
    "arn:aws:states:::aws-sdk:bedrock:createCustomModelDeployment": _create_deployment,
    "arn:aws:states:::aws-sdk:bedrock:getCustomModelDeployment": lambda _: [
        Need("bedrock:GetCustomModelDeployment", _DEPLOYMENT)
    ],
    # eks:call calls the cluster's Kubernetes API, not an AWS API: IAM grants nothing there; the
    # state machine's role needs a Kubernetes access entry on the cluster instead (see the README).
    # https://docs.aws.amazon.com/step-functions/latest/dg/connect-eks.html
    "arn:aws:states:::eks:call": lambda _: [],
    "arn:aws:states:::aws-sdk:sagemaker:createTrainingJob": _create_training_job,
    "arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob": lambda _: [
        Need("sagemaker:DescribeTrainingJob", _TRAINING_JOB)
    ],
    "arn:aws:states:::aws-sdk:sagemaker:stopTrainingJob": lambda _: [
        Need("sagemaker:StopTrainingJob", _TRAINING_JOB)
    ],
}


# -- what the services do with the roles handed to them ------------------------------------------


def _lake_in_and_out() -> tuple[Need, ...]:
    return (
        Need("s3:GetObject", LakeObject("datasets/")),
        Need("s3:PutObject", LakeObject("customization/")),
        Need("s3:ListBucket", Bucket()),
    )


SERVICE_ROLES: dict[str, tuple[Need, ...]] = {
    # https://docs.aws.amazon.com/bedrock/latest/userguide/model-customization-iam-role.html
    # RFT: Bedrock invokes the grader with the role it is given.
    # https://docs.aws.amazon.com/bedrock/latest/userguide/rft-access-security.html
    "bedrock.amazonaws.com": (
        *_lake_in_and_out(),
        Need("lambda:InvokeFunction", ArnIn("RFT_GRADER_FUNCTION_ARN")),
    ),
    # https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html#sagemaker-roles-createtrainingjob-perms
    "sagemaker.amazonaws.com": (
        *_lake_in_and_out(),
        Need(
            "logs:CreateLogGroup",
            Arn("arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/TrainingJobs"),
        ),
        Need(
            "logs:CreateLogStream",
            Arn("arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/TrainingJobs"),
        ),
        Need(
            "logs:PutLogEvents",
            Arn("arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/TrainingJobs"),
        ),
        Need("ecr:GetAuthorizationToken", Arn("*")),
        Need("ecr:BatchGetImage", ImageRepository("NOVA_TRAINING_IMAGE_URI")),
        Need("ecr:GetDownloadUrlForLayer", ImageRepository("NOVA_TRAINING_IMAGE_URI")),
    ),
}


def check(stack: Stack, code: CodeMap, beside: Sequence[Stack] = ()) -> Report:
    return IamCheck(stack, code, beside).run()
