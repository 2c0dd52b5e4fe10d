"""moto's Step Functions as the local cloud adapts it (agenthub/local/moto_adapter.py), against the
interpreter itself: an execution that has only just started, whose thread has not yet parsed its
definition, neither breaks another run's task-token call nor escapes a stop."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from agenthub.local import moto_adapter
from tests.support.waiting import wait_until

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/states"
DEFINITION = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}


@pytest.fixture
def sfn() -> Iterator[object]:
    moto_adapter.install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def slow_start(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Executions stay just started (RUNNING, no environment) until the event is set, as they do
    while their thread parses the definition on a loaded machine."""
    parsed = threading.Event()
    parse = ExecutionWorker._get_evaluation_entrypoint

    def parse_slowly(self: ExecutionWorker) -> object:
        parsed.wait(timeout=30)
        return parse(self)

    monkeypatch.setattr(ExecutionWorker, "_get_evaluation_entrypoint", parse_slowly)
    return parsed


def started(sfn: object, name: str) -> str:
    machine = sfn.create_state_machine(name=name, definition=json.dumps(DEFINITION), roleArn=ROLE)  # type: ignore[attr-defined]
    return str(sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="run")["executionArn"])  # type: ignore[attr-defined]


def test_a_task_token_call_while_an_execution_is_starting_is_answered_as_on_aws(
    sfn: object, slow_start: threading.Event
) -> None:
    started(sfn, "starting")

    with pytest.raises(ClientError) as raised:
        sfn.send_task_success(taskToken="a-token-no-run-holds", output="{}")  # type: ignore[attr-defined]

    assert raised.value.response["Error"]["Code"] == "InvalidToken"  # not a 500
    slow_start.set()


def test_an_execution_stopped_as_it_starts_ends_aborted(sfn: object, slow_start: threading.Event) -> None:
    execution = started(sfn, "stopped-at-once")
    threading.Timer(0.5, slow_start.set).start()

    sfn.stop_execution(executionArn=execution)  # type: ignore[attr-defined]

    def ended() -> str | None:
        status = str(sfn.describe_execution(executionArn=execution)["status"])  # type: ignore[attr-defined]
        return status if status != "RUNNING" else None

    status = wait_until(ended, 10, what="the stopped execution's end")
    assert status == "ABORTED"
