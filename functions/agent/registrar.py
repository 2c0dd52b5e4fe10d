"""The tool registrar: a tool stack's CloudFormation custom resource, answered by the hub stack.

A tool stack declares `Type: Custom::HubTool` with its spec (name, description, JSON Schema of its
input) and this function (exported as `${HubStackName}-ToolRegistrar`) as the service token. On
create and update it checks the spec and announces `tool.registered` through the hub; on delete,
`tool.withdrawn`. The core writer keeps the registry; this function writes nothing itself. A spec
that is not valid fails the tool stack's deployment, naming the problem.

It answers CloudFormation itself rather than through crhelper: crhelper answers over HTTPS only
(the local cloud's answer URL is plain HTTP on loopback) and sleeps two minutes on every delete.
The protocol is one PUT of a JSON document to a presigned URL:
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html
"""

from __future__ import annotations

import json
import urllib.request
from functools import cache
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.events import TOOL_REGISTERED, TOOL_WITHDRAWN
from contracts.tools import ToolSpec
from shared.aws import error_code, worth_retrying
from shared.config import HubSettings, load_settings
from shared.hub import HubPublisher, new_event
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

REGISTRY_SUBJECT = "tool-registry"
RESPONSE_SECONDS = 10


class CustomResourceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    RequestType: Literal["Create", "Update", "Delete"]
    ResponseURL: str
    StackId: str
    RequestId: str
    LogicalResourceId: str
    PhysicalResourceId: str | None = None
    ResourceProperties: dict[str, Any] = Field(default_factory=dict)


def spec_of(properties: dict[str, Any]) -> ToolSpec:
    return ToolSpec(
        name=properties.get("Name", ""),
        description=properties.get("Description", ""),
        input_schema=_input_schema(properties.get("InputSchema", {})),
    )


def _input_schema(value: Any) -> Any:
    """The tool's InputSchema, given as an object or as JSON text. CloudFormation hands a custom
    resource every number and boolean as a string ("maximum": "10", "additionalProperties":
    "false"), which no JSON Schema means, so a tool stack whose schema has any writes it as JSON
    text, which arrives whole. Not documented on the request page, reported at
    https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/1037"""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"InputSchema is text but not JSON: {error.msg} at {error.pos}") from error


def announce(request: CustomResourceRequest, hub: HubPublisher) -> str:
    """Announces the registry change; the physical id CloudFormation keeps for the resource."""
    spec = spec_of(request.ResourceProperties)
    if spec.input_schema.get("type") != "object":
        raise ValueError("InputSchema must be a JSON Schema of type object (a tool takes named arguments)")
    withdrawn = request.RequestType == "Delete"
    hub.publish(
        new_event(
            event_type=TOOL_WITHDRAWN if withdrawn else TOOL_REGISTERED,
            request_id=f"tool-{spec.name}",
            pipeline="agent",
            source="tool-registrar",
            subject=REGISTRY_SUBJECT,
            sequence=request.RequestId,  # a retried request announces the same fact
            payload={"spec": spec.model_dump(), "stack": request.StackId},
        )
    )
    metrics.add_metric(
        name="ToolsWithdrawn" if withdrawn else "ToolsRegistered", unit=MetricUnit.Count, value=1
    )
    return f"tool:{spec.name}"


def respond(request: CustomResourceRequest, status: str, physical_id: str, reason: str = "") -> None:
    if urlsplit(request.ResponseURL).scheme not in ("https", "http"):
        raise ValueError(f"not a response URL: {request.ResponseURL[:60]}")
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000] or status,
            "PhysicalResourceId": physical_id,
            "StackId": request.StackId,
            "RequestId": request.RequestId,
            "LogicalResourceId": request.LogicalResourceId,
            "Data": {},
        }
    ).encode()
    answer = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        request.ResponseURL, data=body, method="PUT", headers={"Content-Type": ""}
    )
    # The scheme is checked above: only http(s) URLs are opened.
    with urllib.request.urlopen(answer, timeout=RESPONSE_SECONDS):  # noqa: S310  # nosec B310
        pass


def handle(event: dict[str, Any], hub: HubPublisher) -> None:
    request = CustomResourceRequest.model_validate(event)
    fallback_id = request.PhysicalResourceId or f"tool:{request.LogicalResourceId}"
    try:
        physical_id = announce(request, hub)
    except (ValidationError, ValueError) as error:
        logger.warning("tool spec refused", extra={"reason": str(error)})
        # A delete of something never created must still succeed, or the stack cannot be deleted.
        status = "SUCCESS" if request.RequestType == "Delete" else "FAILED"
        respond(request, status, fallback_id, f"the tool spec is not valid: {error}")
        return
    except Exception as error:  # the hub did not take it: CloudFormation must hear of it, not wait an hour
        logger.exception("tool registration failed", extra={"error_code": error_code(error)})
        respond(request, "FAILED", fallback_id, f"the hub could not be told: {why_not(error)}")
        return
    respond(request, "SUCCESS", physical_id)


def why_not(error: Exception) -> str:
    """What the person deploying the tool stack can do about it, by the error's code (its message
    would name the hub stack's resources, which are not the tool stack's to see)."""
    if worth_retrying(error):
        return f"{error_code(error)}, which passes: deploy the tool stack again"
    return (
        f"{error_code(error)}, which retrying will not mend: the hub stack's registrar is misconfigured "
        "(its log has the details)"
    )


@cache
def hub() -> HubPublisher:
    settings = load_settings(HubSettings)
    return HubPublisher.for_topic(settings.HUB_TOPIC_ARN, settings.DATA_LAKE_BUCKET)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    handle(event, hub())
