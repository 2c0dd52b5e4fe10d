"""The sample events in events/, made ready to drive a deployed function more than once.

Every run gets fresh ids (each UUID in the event and in what it needs first becomes a new one,
consistently, and an API event gets a new Idempotency-Key), so a deduplicating function does its
full work every time rather than answering from its dedupe record. The events' placeholders
(`${DataLakeBucket}`, ...) are resolved against the deployed stack, as `agenthub local invoke`
resolves them, and the lake objects an event's `.needs.json` names are put in place.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from agenthub.local.deploy import Stack
from agenthub.local.sample_events import EVENTS_DIR, Names, needs_path, resolve

# The sample each function's cold start is measured with: its most common event, one that needs
# no other function to have run first.
SAMPLE_EVENTS = {
    "FrontDoorFunction": "front_door/post_request_invoke.json",
    "CoreWriterFunction": "core/hub_events.json",
    "PreprocessTriggerFunction": "pipeline_kit/trigger_preprocess.json",
    "InvokeTriggerFunction": "pipeline_kit/trigger_invoke.json",
    "CustomizeTriggerFunction": "pipeline_kit/trigger_customize.json",
    "ProcessingPublisherFunction": "pipeline_kit/announcer_started.json",
    "CustomizationPublisherFunction": "pipeline_kit/announcer_failed.json",
    "AgentAnnouncerFunction": "pipeline_kit/announcer_started.json",
    "PreprocessFunction": "processing/preprocess_task.json",
    "PrepareModelRequestFunction": "processing/prepare_model_request_task.json",
    "ProcessingCancelFunction": "processing/cancel_requests.json",
    "PlanCustomizationJobFunction": "customization/plan_job_task.json",
    "ValidateDatasetFunction": "customization/validate_dataset_task.json",
    "CustomizationCancelFunction": "customization/cancel_requests.json",
    "PrepareAgentRunFunction": "agent/prepare_run_task.json",
    "AgentTurnsFunction": "agent/turns_fold.json",
    "RequestToolFunction": "agent/request_tool_task.json",
    "AgentRelayFunction": "agent/relay_tool_answers.json",
    "AgentCancelFunction": "agent/cancel_requests.json",
    "ToolRegistrarFunction": "agent/registrar_create.json",
    "RftGraderFunction": "customization/rft_grader_batch.json",
    "SweeperFunction": "operations/scheduled_sweep.json",
}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class NoSample(LookupError):
    """A function of the template has no sample event to measure it with."""


def fresh_ids(text: str) -> str:
    """`text` with every UUID replaced by a new one (the same UUID by the same new one)."""
    renamed: dict[str, str] = {}
    return _UUID.sub(lambda match: renamed.setdefault(match.group(0), str(uuid.uuid4())), text)


def sample_for(logical_id: str) -> str:
    try:
        return SAMPLE_EVENTS[logical_id]
    except KeyError:
        raise NoSample(f"{logical_id} has no sample event in agenthub/bench/samples.py") from None


def _names(stack: Stack, endpoint_url: str) -> Names:
    names = Names.of_stack(stack)
    # Where a custom resource's answer goes (a presigned URL on the emulator), as in the local cloud.
    return Names(names.resources, names.outputs, {**names.pseudo, "AgentHub::EndpointUrl": endpoint_url})


def fresh_sample(logical_id: str, stack: Stack, endpoint_url: str = "") -> tuple[dict[str, Any], list[Any]]:
    """The function's sample event with new ids and the stack's names, and the lake objects it
    needs first (bucket, key, body), with the same new ids."""
    path = EVENTS_DIR / sample_for(logical_id)
    sidecar = needs_path(path)
    needs = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    if needs.get("invoke"):
        raise NoSample(f"{path.name} needs other functions to run first; pick another sample")
    both = json.loads(fresh_ids(json.dumps({"event": json.loads(path.read_text()), "needs": needs})))
    resolved = resolve(both, _names(stack, endpoint_url))
    event: dict[str, Any] = resolved["event"]
    if "Idempotency-Key" in event.get("headers", {}):
        key = f"bench-{uuid.uuid4()}"
        event["headers"]["Idempotency-Key"] = key
        event.get("multiValueHeaders", {})["Idempotency-Key"] = [key]
    objects = [
        (
            item["bucket"],
            item["key"],
            (sidecar.parent / item["file"]).read_bytes() if "file" in item else str(item["text"]).encode(),
        )
        for item in resolved["needs"].get("objects", [])
    ]
    return event, objects


def fresh_event(logical_id: str, stack: Stack, endpoint_url: str = "") -> dict[str, Any]:
    return fresh_sample(logical_id, stack, endpoint_url)[0]


def put_data(objects: list[Any], s3: Any) -> None:
    """Puts the lake objects a sample needs first where it points."""
    for bucket, key, body in objects:
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def _register_calculator(stack: Stack, clients: Any) -> None:
    """The tool the request-tool sample calls, in the registry, as the core writer keeps it."""
    properties = json.loads((EVENTS_DIR / SAMPLE_EVENTS["ToolRegistrarFunction"]).read_text())[
        "ResourceProperties"
    ]
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
    """The bucket a custom resource answers CloudFormation in, as the local cloud makes it."""
    from agenthub.local.cloud import custom_resource_responses_bucket

    clients("s3").create_bucket(Bucket=custom_resource_responses_bucket(stack.region))


# What a function's sample needs in the stack, once, before it is measured.
SETUP = {"RequestToolFunction": _register_calculator, "ToolRegistrarFunction": _custom_resource_answers}


def set_up(logical_id: str, stack: Stack, clients: Any) -> None:
    if logical_id in SETUP:
        SETUP[logical_id](stack, clients)
