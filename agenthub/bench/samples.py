"""The sample events in events/, made ready to drive a deployed function more than once.

Every run gets fresh ids (each UUID in the event becomes a new one, consistently, and an API
event gets a new Idempotency-Key), so a deduplicating function does its full work every time
rather than answering from its dedupe record. The placeholder names of the samples become the
deployed stack's, and the data a sample refers to is put where it points.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from agenthub import PROJECT_ROOT
from agenthub.local.deploy import Stack

EVENTS = PROJECT_ROOT / "events"
# The sample each function's cold start is measured with: its most common event.
SAMPLE_EVENTS = {
    "FrontDoorFunction": "front_door/post_request_invoke.json",
    "CoreWriterFunction": "core/hub_events.json",
    "PreprocessTriggerFunction": "shared/pipeline_trigger_preprocess.json",
    "InvokeTriggerFunction": "shared/pipeline_trigger_invoke.json",
    "CustomizeTriggerFunction": "shared/pipeline_trigger_customize.json",
    "ProcessingPublisherFunction": "shared/hub_publisher_started.json",
    "CustomizationPublisherFunction": "shared/hub_publisher_failed.json",
    "PreprocessFunction": "processing/preprocess_task.json",
    "PrepareModelRequestFunction": "processing/prepare_model_request_task.json",
    "ProcessingCancelFunction": "processing/cancel_requests.json",
    "PlanCustomizationJobFunction": "customization/plan_job_task.json",
    "ValidateDatasetFunction": "customization/validate_dataset_task.json",
    "CustomizationCancelFunction": "customization/cancel_requests.json",
}
SAMPLE_BUCKET = "agent-hub-datalakebucket-example"
SAMPLE_DATASET = EVENTS / "customization" / "sft_dataset.jsonl"
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


def fresh_event(logical_id: str, stack: Stack) -> dict[str, Any]:
    """The function's sample event with new ids and the stack's names, its data in place."""
    text = (EVENTS / sample_for(logical_id)).read_text().replace(SAMPLE_BUCKET, stack.ref("DataLakeBucket"))
    event: dict[str, Any] = json.loads(fresh_ids(text))
    if "Idempotency-Key" in event.get("headers", {}):
        key = f"bench-{uuid.uuid4()}"
        event["headers"]["Idempotency-Key"] = key
        event.get("multiValueHeaders", {})["Idempotency-Key"] = [key]
    return event


def _upload_datasets(event: dict[str, Any], s3: Any) -> None:
    for dataset in event["plan"]["datasets"]:
        bucket, _, key = dataset["uri"].removeprefix("s3://").partition("/")
        s3.put_object(Bucket=bucket, Key=key, Body=SAMPLE_DATASET.read_bytes())


# What a sample needs to exist before its function runs, by function.
DATA: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "ValidateDatasetFunction": _upload_datasets,
}


def put_data(logical_id: str, event: dict[str, Any], s3: Any) -> None:
    if logical_id in DATA:
        DATA[logical_id](event, s3)
