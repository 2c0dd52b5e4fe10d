"""The sample events in events/, made ready to drive a deployed function more than once.

Every run gets fresh ids (each UUID in the event and in what it needs first becomes a new one,
consistently, and an API event gets a new Idempotency-Key), so a deduplicating function does its
full work every time rather than answering from its dedupe record. The events' placeholders
(`${DataLakeBucket}`, ...) are resolved against the deployed stack, as `agenthub local invoke`
resolves them, and the lake objects an event's `.needs.json` names are put in place. An event may
be of any shape a function is given: an object (API Gateway, SQS, EventBridge, CloudFormation, a
Step Functions task's input) or a list (Bedrock's batch of RFT rollouts).

A sample only the bench uses (the agent trigger's) is in agenthub/bench/events/: no row of
tests/e2e/test_sample_events.py runs it, the bench's own run (its smoke in `make test`) does.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agenthub import PROJECT_ROOT
from agenthub.local.deploy import Stack
from agenthub.local.sample_events import EVENTS_DIR, Names, is_sample_event, needs_path, resolve

BENCH_EVENTS_DIR = Path(__file__).parent / "events"
# The sample each function's cold start is measured with: its most common event, one that needs
# no other function to have run first.
SAMPLE_EVENTS: dict[str, Path] = {
    "FrontDoorFunction": EVENTS_DIR / "front_door/post_request_invoke.json",
    "CoreWriterFunction": EVENTS_DIR / "core/hub_events.json",
    "PreprocessTriggerFunction": EVENTS_DIR / "pipeline_kit/trigger_preprocess.json",
    "InvokeTriggerFunction": EVENTS_DIR / "pipeline_kit/trigger_invoke.json",
    "CustomizeTriggerFunction": EVENTS_DIR / "pipeline_kit/trigger_customize.json",
    # An agent request from its queue: the trigger's handler with the agent run's settings.
    "AgentTriggerFunction": BENCH_EVENTS_DIR / "trigger_agent.json",
    "ProcessingPublisherFunction": EVENTS_DIR / "pipeline_kit/announcer_started.json",
    "CustomizationPublisherFunction": EVENTS_DIR / "pipeline_kit/announcer_failed.json",
    "AgentAnnouncerFunction": EVENTS_DIR / "pipeline_kit/announcer_started.json",
    "PreprocessFunction": EVENTS_DIR / "processing/preprocess_task.json",
    "PrepareModelRequestFunction": EVENTS_DIR / "processing/prepare_model_request_task.json",
    "ProcessingCancelFunction": EVENTS_DIR / "processing/cancel_requests.json",
    "PlanCustomizationJobFunction": EVENTS_DIR / "customization/plan_job_task.json",
    "ValidateDatasetFunction": EVENTS_DIR / "customization/validate_dataset_task.json",
    "CustomizationCancelFunction": EVENTS_DIR / "customization/cancel_requests.json",
    "PrepareAgentRunFunction": EVENTS_DIR / "agent/prepare_run_task.json",
    "AgentTurnsFunction": EVENTS_DIR / "agent/turns_fold.json",
    "RequestToolFunction": EVENTS_DIR / "agent/request_tool_task.json",
    "AgentRelayFunction": EVENTS_DIR / "agent/relay_tool_answers.json",
    "AgentCancelFunction": EVENTS_DIR / "agent/cancel_requests.json",
    "ToolRegistrarFunction": EVENTS_DIR / "agent/registrar_create.json",
    "RftGraderFunction": EVENTS_DIR / "customization/rft_grader_batch.json",
    "SweeperFunction": EVENTS_DIR / "operations/scheduled_sweep.json",
}
# Functions of the template whose cold start cannot be measured, each with the reason: the bench
# reports them, and fails on any other function it could not measure (agenthub/bench/gaps.py).
NOT_MEASURED: dict[str, str] = {}
IDEMPOTENCY_HEADER = "idempotency-key"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class NoSample(LookupError):
    """A function of the template has no sample event to measure it with."""


@dataclass(frozen=True)
class Sample:
    event: Any  # what the handler is given: an object or a list, as the event file has it
    objects: list[tuple[str, str, bytes]]  # the lake objects it needs first: (bucket, key, body)


def sample_event_files() -> list[Path]:
    """Every sample event the bench may be given: events/, each tool's events/, the bench's own."""
    folders = [EVENTS_DIR, *sorted(PROJECT_ROOT.glob("tools/*/events")), BENCH_EVENTS_DIR]
    return sorted(path for folder in folders for path in folder.rglob("*.json") if is_sample_event(path))


def fresh_ids(text: str) -> str:
    """`text` with every UUID replaced by a new one (the same UUID by the same new one)."""
    renamed: dict[str, str] = {}
    return _UUID.sub(lambda match: renamed.setdefault(match.group(0), str(uuid.uuid4())), text)


def sample_for(logical_id: str) -> Path:
    try:
        return SAMPLE_EVENTS[logical_id]
    except KeyError:
        raise NoSample(f"{logical_id} has no sample event in agenthub/bench/samples.py") from None


def names_of(stack: Stack, endpoint_url: str = "") -> Names:
    names = Names.of_stack(stack)
    # Where a custom resource's answer goes (a presigned URL on the emulator), as in the local cloud.
    return Names(names.resources, names.outputs, {**names.pseudo, "AgentHub::EndpointUrl": endpoint_url})


def renew_idempotency_key(event: Any) -> None:
    """An API Gateway event's Idempotency-Key made new, so the front door does the full work: in
    `headers` and `multiValueHeaders`, under any case, either of them possibly null (as API Gateway
    sends a request without headers: https://docs.aws.amazon.com/apigateway/latest/developerguide/
    set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format)."""
    if not isinstance(event, dict):
        return
    key = f"bench-{uuid.uuid4()}"
    for field, value in (("headers", key), ("multiValueHeaders", [key])):
        headers = event.get(field)
        if isinstance(headers, dict):
            for name in headers:
                if name.lower() == IDEMPOTENCY_HEADER:
                    headers[name] = value


def fresh_sample_of(path: Path, names: Names) -> Sample:
    """The event file with new ids and the deployment's names, and the lake objects it needs
    first (with the same new ids); NoSample when it needs other functions to run first."""
    sidecar = needs_path(path)
    needs = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    if needs.get("invoke"):
        first = ", ".join(str(item.get("function")) for item in needs["invoke"])
        raise NoSample(f"{path.name} needs {first} to run first; pick another sample")
    both = json.loads(fresh_ids(json.dumps({"event": json.loads(path.read_text()), "needs": needs})))
    resolved = resolve(both, names)
    renew_idempotency_key(resolved["event"])
    objects = [
        (
            str(item["bucket"]),
            str(item["key"]),
            (sidecar.parent / item["file"]).read_bytes() if "file" in item else str(item["text"]).encode(),
        )
        for item in resolved["needs"].get("objects", [])
    ]
    return Sample(resolved["event"], objects)


def fresh_sample(logical_id: str, stack: Stack, endpoint_url: str = "") -> tuple[Any, list[Any]]:
    """The function's sample event with new ids and the stack's names, and the lake objects it
    needs first (bucket, key, body), with the same new ids."""
    sample = fresh_sample_of(sample_for(logical_id), names_of(stack, endpoint_url))
    return sample.event, sample.objects


def fresh_event(logical_id: str, stack: Stack, endpoint_url: str = "") -> Any:
    return fresh_sample(logical_id, stack, endpoint_url)[0]


def put_data(objects: list[Any], s3: Any) -> None:
    """Puts the lake objects a sample needs first where it points."""
    for bucket, key, body in objects:
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def _register_calculator(stack: Stack, clients: Any) -> None:
    """The tool the request-tool sample calls, in the registry, as the core writer keeps it."""
    properties = json.loads(SAMPLE_EVENTS["ToolRegistrarFunction"].read_text())["ResourceProperties"]
    spec = {
        "name": properties["Name"],
        "description": properties["Description"],
        "input_schema": properties["InputSchema"],
    }
    changed_at = "2026-11-25T13:40:00+00:00"
    body = {"spec": spec, "stack": "agent-hub-calculator", "changed_at": changed_at, "withdrawn": False}
    clients("dynamodb").put_item(
        TableName=stack.ref("CatalogTable"),
        Item={
            "pk": {"S": "TOOLS"},
            "sk": {"S": spec["name"]},
            "changed_at": {"S": changed_at},
            "withdrawn": {"BOOL": False},
            "body": {"S": json.dumps(body)},
        },
    )


def _custom_resource_answers(stack: Stack, clients: Any) -> None:
    """The bucket a custom resource answers CloudFormation in, open to its PUT as the local cloud
    makes it (CloudFormation's presigned URL needs no credentials either)."""
    from agenthub.local.cloud import open_custom_resource_responses

    open_custom_resource_responses(clients("s3"), stack.region)


# What a function's sample needs in the stack, once, before it is measured.
SETUP = {"RequestToolFunction": _register_calculator, "ToolRegistrarFunction": _custom_resource_answers}


def set_up(logical_id: str, stack: Stack, clients: Any) -> None:
    if logical_id in SETUP:
        SETUP[logical_id](stack, clients)


def _cloudformation_heard_success(event: Any, s3: Any) -> str | None:
    """A custom resource answers CloudFormation at its ResponseURL, not by returning: what it PUT
    there must be a success for this very request."""
    bucket, _, key = urlsplit(event["ResponseURL"]).path.lstrip("/").partition("/")
    try:
        answer = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return f"it never answered CloudFormation at {key}"
    if answer.get("RequestId") != event["RequestId"]:
        return f"it never answered this request: the answer at {key} is {answer.get('RequestId')}'s"
    if answer.get("Status") != "SUCCESS":
        return f"CloudFormation was answered {answer.get('Status')}: {answer.get('Reason')}"
    return None


# Where a function answers other than by its return value, and how to read that answer.
ANSWERS = {"ToolRegistrarFunction": _cloudformation_heard_success}


def answer_problem(logical_id: str, event: Any, s3: Any) -> str | None:
    """Why the function's answer given elsewhere (not its return value) was no success, if it was not."""
    check = ANSWERS.get(logical_id)
    return check(event, s3) if check else None
