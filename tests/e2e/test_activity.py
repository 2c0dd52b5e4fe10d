"""The session's local cloud asked "is everything this started finished?", in this process and over its
control API (`GET /_agenthub/activity`, what `agenthub local invoke --follow` asks from another one)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import requests

from agenthub.local.activity import NotQuiet
from agenthub.local.invoke import LocalCloudClient
from tests.e2e.conftest import Hub

WAIT = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}


@pytest.fixture
def waiting_run(hub: Hub) -> Iterator[str]:
    """An execution that waits ten minutes on a timer: pending work until it is stopped."""
    sfn = hub.aws("stepfunctions")
    name = f"activity-probe-{uuid.uuid4().hex[:8]}"
    machine = sfn.create_state_machine(
        name=name, definition=json.dumps(WAIT), roleArn="arn:aws:iam::123456789012:role/probe"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="ten-minutes")["executionArn"]
    try:
        yield f"{name}/ten-minutes"
    finally:
        sfn.stop_execution(executionArn=execution)
        hub.quiet()
        sfn.delete_state_machine(stateMachineArn=machine)


def test_once_quiet_a_request_has_ended_with_nothing_more_to_wait_for(hub: Hub) -> None:
    client = hub.client("activity-chain")
    request_id = client.submit(
        {
            "pipeline": "invoke",
            "input": {
                "prompt": "Summarise",
                "preprocess": {"text": "a chain of two pipelines through the hub"},
            },
        }
    ).body["request_id"]

    quiet = hub.quiet()
    row = hub.aws("dynamodb").get_item(
        TableName=hub.ref("CatalogTable"),
        Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
        ConsistentRead=True,
    )["Item"]

    # Read straight from the catalog, with no wait of its own: quiet came after the whole chain.
    assert row["status"]["S"] == "SUCCEEDED"
    history = [entry["event_type"] for entry in json.loads(row["body"]["S"])["history"]]
    assert history[-1] == "invoke.completed"
    assert quiet.quiet
    assert quiet.describe().startswith("nothing pending")


def test_a_wait_for_quiet_names_the_execution_still_running_here_and_over_the_control_api(
    hub: Hub, waiting_run: str
) -> None:
    remote = LocalCloudClient(hub.info)

    with pytest.raises(NotQuiet) as here:
        hub.cloud.wait_quiet(timeout=0.5)
    with pytest.raises(NotQuiet) as there:
        remote.wait_quiet(timeout=0.5)
    seen = requests.get(f"{hub.info['endpoint_url']}/_agenthub/activity", timeout=10).json()

    assert f"execution {waiting_run}: RUNNING" in str(here.value)
    assert f"execution {waiting_run}: RUNNING" in str(there.value)
    assert waiting_run in seen["executions"]
    assert seen["quiet"] is False
    assert f"execution {waiting_run}: RUNNING" in seen["description"]


def test_a_wait_for_a_change_over_the_control_api_answers_once_something_changed(hub: Hub) -> None:
    remote = LocalCloudClient(hub.info)
    before = remote.activity().generation

    # An Event invocation the function refuses at once (no document): it changes nothing else.
    hub.cloud.functions.invoke_async(  # type: ignore[union-attr]
        hub.cloud.stack.function("PreprocessFunction").name,  # type: ignore[union-attr]
        b"{}",
    )
    after = remote.wait_change(before, timeout=10)
    quiet = remote.wait_quiet(timeout=60)

    assert after > before
    assert quiet.quiet
    assert quiet.generation >= after


@pytest.mark.parametrize(
    "query", ["after=x", "quiet=soon", "wait=forever&after=1"], ids=["after", "quiet", "wait"]
)
def test_a_control_request_with_a_bad_number_is_400_naming_it(hub: Hub, query: str) -> None:
    answer = requests.get(f"{hub.info['endpoint_url']}/_agenthub/activity?{query}", timeout=10)

    assert answer.status_code == 400
    assert answer.json()["message"].startswith("not a number")


def test_only_get_reads_the_activity(hub: Hub) -> None:
    answer = requests.post(f"{hub.info['endpoint_url']}/_agenthub/activity", timeout=10)

    assert answer.status_code == 405
