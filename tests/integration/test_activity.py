"""What keeps the local cloud busy, read from the real parts (agenthub/local/activity.py): moto's queues
and executions in this process, a real SQS poller and function host with worker processes.

The functions here answer when the test releases them (tests/fixtures/functions/probe.py `held`), so
"still busy" is certain at the moment it is asserted, however loaded the machine is.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agenthub.local import activity, moto_adapter
from agenthub.local.activity import Activity, NotQuiet, QueueCounts, Watch
from agenthub.local.deploy import EventSourceSpec
from agenthub.local.functions import FunctionHost
from agenthub.local.pollers import SqsPoller
from tests.integration.test_function_host import spec
from tests.support.waiting import wait_until

ACCOUNT, REGION = "123456789012", "us-east-1"
WAIT = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}


@dataclass
class Served:
    """A queue as a poller that holds no batch serves it."""

    queue_name: str
    name: str = "WorkSource"
    batches_held: int = 0


@pytest.fixture
def aws() -> Iterator[None]:
    moto_adapter.install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


def watch(*pollers: Any, functions: FunctionHost | None = None) -> Watch:
    return Watch(lambda: activity.pending_work(ACCOUNT, REGION, pollers, functions))


def queue(name: str, **attributes: str) -> str:
    url: str = boto3.client("sqs", region_name=REGION).create_queue(QueueName=name, Attributes=attributes)[
        "QueueUrl"
    ]
    return url


def test_a_visible_an_in_flight_and_a_delayed_message_each_keep_it_busy(aws: None) -> None:
    sqs, url = boto3.client("sqs", region_name=REGION), queue("work")
    watched = watch(Served("work"))
    sqs.send_message(QueueUrl=url, MessageBody="taken")
    (taken,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)["Messages"]
    sqs.send_message(QueueUrl=url, MessageBody="visible")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=900)

    found = watched.activity()

    assert found.queues == {"work": QueueCounts(visible=1, in_flight=1, delayed=1)}
    assert not found.quiet
    with pytest.raises(NotQuiet, match=r"queue work: 1 visible, 1 in flight, 1 delayed"):
        activity.wait_quiet(watched, timeout=0.2)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=taken["ReceiptHandle"])
    sqs.purge_queue(QueueUrl=url)
    assert activity.wait_quiet(watched, timeout=10).quiet


def test_a_dead_letter_queue_and_a_queue_no_poller_serves_are_not_work(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    dead_letters = queue("work-dlq")
    arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue("work", RedrivePolicy=json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "1"}))
    sqs.send_message(QueueUrl=dead_letters, MessageBody="given up on")
    sqs.send_message(QueueUrl=queue("tap"), MessageBody="a follower's copy")

    assert activity.wait_quiet(watch(Served("work")), timeout=10) == Activity(
        generation=activity.CHANGES.generation
    )


def test_a_running_execution_keeps_it_busy_until_it_ends(aws: None) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="waits", definition=json.dumps(WAIT), roleArn=f"arn:aws:iam::{ACCOUNT}:role/states"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="ten-minutes")["executionArn"]
    watched = watch()

    with pytest.raises(NotQuiet, match="execution waits/ten-minutes: RUNNING") as raised:
        activity.wait_quiet(watched, timeout=0.2)
    sfn.stop_execution(executionArn=execution)
    quiet = activity.wait_quiet(watched, timeout=30)

    assert raised.value.activity.executions == ("waits/ten-minutes",)
    assert quiet.executions == ()
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"


@pytest.fixture
def release(tmp_path: Path) -> Path:
    fifo = tmp_path / "release"
    os.mkfifo(fifo)
    return fifo


@pytest.fixture
def host(tmp_path: Path, release: Path) -> Iterator[FunctionHost]:
    held = spec("Held", "probe.held", {"RELEASE_FIFO": str(release)}, timeout=60)
    functions = FunctionHost({"Held": held}, REGION, "http://127.0.0.1:1", tmp_path / "logs")
    yield functions
    functions.stop()


def let_go(release: Path) -> None:
    """Releases one held invocation (opening the FIFO waits for the function to open its end)."""
    with release.open("w") as fifo:
        fifo.write("go\n")


@pytest.mark.timeout(120)
def test_a_batch_in_flight_keeps_it_busy_until_its_function_answers_and_it_is_deleted(
    aws: None, host: FunctionHost, release: Path
) -> None:
    sqs, url = boto3.client("sqs", region_name=REGION), queue("work", VisibilityTimeout="600")
    source = EventSourceSpec(
        logical_id="WorkSource",
        function_name="stack-Held",
        queue_arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:work",
        batch_size=1,
        batching_window_seconds=0,
        report_batch_item_failures=False,
        enabled=True,
        maximum_concurrency=None,
    )
    poller = SqsPoller(source, sqs, host, REGION)
    watched = watch(poller, functions=host)
    poller.start()
    try:
        sqs.send_message(QueueUrl=url, MessageBody="work")

        def holding() -> Activity | None:
            found = watched.activity()
            return found if found.pollers and found.invocations else None

        held = wait_until(holding, 60, what="the poller handing its batch to the function", waiter=watched)
        with pytest.raises(NotQuiet) as still:
            activity.wait_quiet(watched, timeout=0.2)
        let_go(release)
        quiet = activity.wait_quiet(watched, timeout=60)
    finally:
        poller.request_stop()
        poller.join(deadline=time.monotonic() + 30)

    assert held.queues == {"work": QueueCounts(in_flight=1)}
    assert held.pollers == {"WorkSource": 1}
    assert held.invocations == {"stack-Held": 1}
    described = str(still.value)
    assert "queue work: 1 in flight" in described
    assert "poller WorkSource: 1 batch(es) held" in described
    assert "function stack-Held: 1 invocation(s)" in described
    assert quiet.quiet
    assert (
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessagesNotVisible"
        ]
        == "0"
    )  # deleted, not left to come back
    assert host.pool("stack-Held").invocations == 1


@pytest.mark.timeout(120)
def test_an_asynchronous_invocation_is_pending_from_its_acceptance_to_its_end(
    aws: None, host: FunctionHost, release: Path
) -> None:
    watched = watch(functions=host)

    host.invoke_async("stack-Held", b"{}")
    accepted = watched.activity()
    let_go(release)
    quiet = activity.wait_quiet(watched, timeout=60)

    assert accepted.invocations == {"stack-Held": 1}  # pending before its thread has even run it
    assert quiet.invocations == {}
    assert host.pool("stack-Held").invocations == 1
