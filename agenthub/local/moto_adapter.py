"""The one place the project adapts moto, for the local cloud and every test tier alike.

Each adaptation closes a gap between moto and AWS that the hub's own resources run into:

- JSONata: moto's Step Functions interpreter evaluates JSONata through a pluggable engine and
  ships none; `jsonata-python` is plugged in.
- AWS SDK integrations: moto maps the SDK-integration service name straight to a boto3 client
  name, so `aws-sdk:bedrockruntime:converse` asks for a client called "bedrockruntime", and it
  names errors after that lowercase name. Step Functions uses the boto3 service (bedrock-runtime)
  and names errors `<ServiceName>.<Exception>` in PascalCase (`BedrockRuntime.ThrottlingException`),
  which is what the state machines' Retry and Catch match; the error name is the service's error
  code (plus "Exception" when it lacks it), where moto uses botocore's exception class, which is a
  generic one for codes the service's model does not list. Step Functions also takes an SDK
  integration's parameters in PascalCase at every level and returns its result in PascalCase
  (`Arguments: {"ModelId": ..., "Messages": [{"Role": ...}]}`, `$states.result.StopReason`);
  moto passes them to boto3 as they are, which drops camelCase APIs' fields. Both directions are
  mapped through the operation's botocore shapes.
- AWS managed policies: IAM has them in every account; moto loads them only when asked to
  (`MOTO_IAM_LOAD_MANAGED_POLICIES`), and the template attaches one.
- Policy conditions: moto evaluates only StringEquals and treats every other condition as met, so
  a conditional Deny (the TLS-only bucket policy: Deny when `aws:SecureTransport` is false) denies
  every request. Locally a statement with a condition moto cannot evaluate does not apply; the
  local cloud does not claim to enforce IAM or resource policies (see the README).
- StopExecution: AWS aborts an execution at once, tasks waiting for a task token included; moto
  marks the execution stopped but a `.waitForTaskToken` task keeps waiting until its timeout and
  then fails the run (moto lets a later error overwrite the stop). Here stopping an execution
  wakes its waiting tasks, and a stopped execution stays stopped, so it ends ABORTED.
- Executions just started: moto marks an execution RUNNING at once, and its thread then parses the
  definition (a second or more on a loaded machine) before the execution has an environment.
  SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat look for the token in every running
  execution's environment, and one without answered the whole call with a 500 (AttributeError), so
  a tool's answer for another run failed whenever any execution was starting; StopExecution of a
  run that just started failed the same way. An execution with no environment yet holds no token
  and is passed over; a stop waits for the environment.

- Executions report their starts and ends: each bumps the local cloud's activity counter
  (`agenthub.local.activity`), so a wait for quiet knows when an execution it read as running has
  ended (moto keeps no such record of its own).

- Amazon EKS's Kubernetes API integration (`eks:call`): moto has none and would call a boto3
  operation named `call`. Here it sends the request to the `Endpoint` the task names, as Step
  Functions does, returns `{"ResponseBody": ...}`, and names an error status `EKS.<status>`. The
  local HyperPod stand-in serves that endpoint.

Two more make the emulator do less per request, without changing what it answers (measured with
`make bench`; see the README's "Performance and cost"):

- moto's dispatcher lists and stats its own package folder on every request to recognise a
  backend's name; the folder does not change while the process runs, so it is listed once.
- Step Functions SDK and Lambda tasks: moto creates a new boto3 client for every task it runs,
  and the payload mapping above looked its operation's model up from a new botocore session
  each time. Clients are kept per service and endpoint, and operation models per operation.
- Step Functions executions: moto parses the state machine's definition with ANTLR at the start
  of every execution. The parsed program is built once from the definition and never changed
  while it runs (every execution's state lives in its own environment), so it is kept per
  definition text and shared by the executions that run it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

import botocore.session
from botocore import xform_name

_installed = False
# How long a stop waits for an execution that just started to have an environment to stop.
ENVIRONMENT_WAIT_SECONDS = 10.0


def install() -> None:
    """Applies every adaptation once per process (idempotent)."""
    global _installed  # noqa: PLW0603 - process-wide, like the moto backends it adapts
    if _installed:
        return
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    _plug_in_jsonata()
    _map_sdk_integration_services()
    _map_sdk_integration_payloads()
    _unevaluable_conditions_do_not_apply()
    _stopping_wakes_waiting_tasks()
    _call_kubernetes_apis()
    _executions_just_started_hold_no_tokens()
    _executions_report_their_changes()
    _list_moto_modules_once()
    _reuse_task_clients()
    _parse_each_definition_once()
    _installed = True


def _plug_in_jsonata() -> None:
    import jsonata
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

    def evaluate(expression: str) -> Any:
        result = jsonata.Jsonata(expression).evaluate(None)
        # jsonata-python hands back its own sequence types; the interpreter expects plain JSON.
        return json.loads(json.dumps(result)) if result is not None else None

    moto_jsonata._eval_jsonata = evaluate


@cache
def sdk_service_names() -> dict[str, tuple[str, str]]:
    """SDK-integration service name -> (boto3 service name, Step Functions error prefix)."""
    session = botocore.session.get_session()
    names: dict[str, tuple[str, str]] = {}
    for service in session.get_available_services():
        service_id = session.get_service_model(service).service_id
        prefix = "".join(_pascal(word) for word in str(service_id).replace("-", " ").split())
        names[service.replace("-", "")] = (service, prefix)
    # Step Functions' own spellings where they differ from the SDK's service id.
    names["dynamodb"] = ("dynamodb", "DynamoDb")
    names["sfn"] = ("stepfunctions", "Sfn")
    return names


def _pascal(word: str) -> str:
    # "SageMaker" stays, "DynamoDB" would become "DynamoDb", "ACM" becomes "Acm".
    if word.isupper():
        return word.capitalize()
    return word[0].upper() + word[1:]


def _map_sdk_integration_services() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service,
        state_task_service_aws_sdk,
    )

    names = sdk_service_names()
    task = state_task_service_aws_sdk.StateTaskServiceAwsSdk

    def exception_name(service_name: str, error: Exception) -> str:
        code = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
        return f"{service_name}.{code}" if code.endswith("Exception") else f"{service_name}.{code}Exception"

    task._normalise_exception_name = staticmethod(exception_name)  # type: ignore[method-assign,assignment]
    overrides = state_task_service.StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES
    for sdk_name, (boto_name, prefix) in names.items():
        if sdk_name != boto_name:
            overrides.setdefault(sdk_name, boto_name)
        state_task_service_aws_sdk._SERVICE_ERROR_NAMES.setdefault(sdk_name, prefix)


def _to_boto(value: Any, shape: Any) -> Any:
    """SFN's PascalCase parameters, renamed to the operation's member names (matched case-insensitively)."""
    if shape is None or getattr(shape, "is_document_type", False):
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        members = {name.lower(): name for name in shape.members}
        renamed = {}
        for key, item in value.items():
            member = members.get(key.lower(), key)
            renamed[member] = _to_boto(item, shape.members.get(member))
        return renamed
    if shape.type_name == "list" and isinstance(value, list):
        return [_to_boto(item, shape.member) for item in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {key: _to_boto(item, shape.value) for key, item in value.items()}
    return value


def _to_sfn(value: Any, shape: Any) -> Any:
    """A boto3 result as Step Functions returns it: member names in PascalCase, timestamps as text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if shape is None or getattr(shape, "is_document_type", False):
        # A document (a tool's input, a JSON schema) is data, not members: its keys stay as they are.
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        return {
            key[:1].upper() + key[1:]: _to_sfn(item, shape.members.get(key))
            for key, item in value.items()
            if key != "ResponseMetadata"
        }
    if shape.type_name == "list" and isinstance(value, list):
        return [_to_sfn(item, shape.member) for item in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {key: _to_sfn(item, shape.value) for key, item in value.items()}
    return value


@cache
def _service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


@cache
def operation_model(service: str, action: str) -> Any:
    """The botocore model of `action` (snake_case) of `service`, loaded once per process."""
    model = _service_model(service)
    name = next(op for op in model.operation_names if xform_name(op) == action)
    return model.operation_model(name)


def _map_sdk_integration_payloads() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
    )

    task = state_task_service_aws_sdk.StateTaskServiceAwsSdk

    def operation(self: Any) -> Any:
        return operation_model(self._get_boto_service_name(), self._get_boto_service_action())

    def normalise_parameters(self: Any, parameters: dict[str, Any], *_: Any, **__: Any) -> None:
        renamed = _to_boto(parameters, operation(self).input_shape)
        parameters.clear()
        parameters.update(renamed)

    def normalise_response(self: Any, response: Any, *_: Any, **__: Any) -> None:
        if isinstance(response, dict):
            renamed = _to_sfn(response, operation(self).output_shape)
            response.clear()
            response.update(renamed)

    task._normalise_parameters = normalise_parameters  # type: ignore[method-assign]
    task._normalise_response = normalise_response  # type: ignore[method-assign]


def _unevaluable_conditions_do_not_apply() -> None:
    from moto.iam import access_control, policy_conditions

    statement = access_control.IAMPolicyStatement
    original = statement.is_action_permitted

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        operators = set(self._statement.get("Condition") or {})
        if operators - set(policy_conditions.CONDITION_OPERATIONS):
            return access_control.PermissionResult.NEUTRAL
        return original(self, action, resource, principal, incoming_condition_values)

    statement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]


def _stopping_wakes_waiting_tasks() -> None:
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.backend.execution import Execution

    set_error = Environment.set_error

    def set_error_unless_stopped(self: Any, error: Any) -> None:
        if not isinstance(self._program_state, ProgramStopped):
            set_error(self, error)

    Environment.set_error = set_error_unless_stopped  # type: ignore[method-assign]

    original = Execution.stop

    def stop(self: Any, stop_date: datetime, error: str | None, cause: str | None) -> None:
        worker = self.exec_worker
        deadline = time.monotonic() + ENVIRONMENT_WAIT_SECONDS
        while worker is not None and worker.env is None and time.monotonic() < deadline:
            time.sleep(0.01)  # just started: its thread is still parsing the definition
        original(self, stop_date, error, cause)
        if worker is not None and worker.env is not None:
            for endpoint in list(worker.env.callback_pool_manager._pool.values()):
                endpoint.interrupt_all()

    Execution.stop = stop  # type: ignore[method-assign]


class KubernetesApiError(Exception):
    """A Kubernetes API answer with an error status, for eks:call's `EKS.<status>`."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"the Kubernetes API answered {status}: {body[:500]}")
        self.status = status


def eks_call(parameters: dict[str, Any]) -> dict[str, Any]:
    """What Step Functions' eks:call does: the HTTP request, on the cluster's endpoint.
    https://docs.aws.amazon.com/step-functions/latest/dg/connect-eks.html"""
    import requests

    body = parameters.get("RequestBody")
    response = requests.request(
        str(parameters["Method"]),
        str(parameters["Endpoint"]).rstrip("/") + str(parameters["Path"]),
        params=parameters.get("QueryParameters"),
        json=body if body is not None else None,
        timeout=30,
    )
    if response.status_code >= 400:
        raise KubernetesApiError(response.status_code, response.text)
    return {"ResponseBody": response.json() if response.content else {}}


def _call_kubernetes_apis() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_unsupported,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    task = state_task_service_unsupported.StateTaskServiceUnsupported
    relay, from_error = task._eval_service_task, task._from_error

    def eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        # moto passes these by keyword: the names are its own.
        if self._get_boto_service_name() != "eks" or self._get_boto_service_action() != "call":
            relay(self, env, resource_runtime_part, normalised_parameters, state_credentials)
            return
        env.stack.append(eks_call(normalised_parameters))

    def failure(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, KubernetesApiError):
            return from_error(self, env, ex)
        name = f"EKS.{ex.status}"
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error_name=name),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=name, cause=str(ex), resource=self._get_sfn_resource(), resourceType="eks"
                )
            ),
        )

    task._eval_service_task = eval_service_task  # type: ignore[method-assign]
    task._from_error = failure  # type: ignore[method-assign]


def _executions_just_started_hold_no_tokens() -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend._get_executions

    def with_environment(self: Any, execution_status: Any = None) -> list[Any]:
        # Every caller (the task-token calls, the map-run calls) reads each execution's environment.
        return [
            execution
            for execution in original(self, execution_status)
            if execution.exec_worker is not None and execution.exec_worker.env is not None
        ]

    StepFunctionsParserBackend._get_executions = with_environment  # type: ignore[method-assign]


def _executions_report_their_changes() -> None:
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    from agenthub.local.activity import CHANGES

    start, terminated = Execution.start, BaseExecutionWorkerCommunication.terminated

    def start_and_report(self: Any) -> None:
        CHANGES.bump()
        try:
            start(self)
        finally:
            CHANGES.bump()

    def terminated_and_report(self: Any) -> None:
        try:
            terminated(self)
        finally:
            CHANGES.bump()

    Execution.start = start_and_report  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication.terminated = terminated_and_report  # type: ignore[method-assign]


def _list_moto_modules_once() -> None:
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def _reuse_task_clients() -> None:
    """One client per (region, service, endpoint) for every task moto's interpreter runs; botocore
    clients are safe to share between threads. Every module that imported `boto_client_for` by
    name gets the caching one."""
    import sys

    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    clients: dict[tuple[str, str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, os.environ.get("MOTO_PORT", ""))
        with lock:
            if key not in clients:
                clients[key] = original(region=region, service=service, state_credentials=state_credentials)
            return clients[key]

    boto_client.boto_client_for = boto_client_for  # for the modules moto imports later
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if name.startswith("moto.stepfunctions.") and getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


def _parse_each_definition_once() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    @lru_cache(maxsize=64)
    def program(definition: str) -> Any:
        return AmazonStateLanguageParser.parse(definition)[0]

    def entrypoint(self: Any) -> Any:
        return program(self._evaluation_details.state_machine_details.definition)

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]
