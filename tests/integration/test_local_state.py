"""The local cloud's saved state: moto's data pickled and put back, the template deployed over it.

Everything here runs in one process with moto in-process: a "restart" is `capture`, a reset of
every backend (a new process starts empty), `restore`, and the deployment again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from moto.core.base_backend import BackendDict

from agenthub.local import moto_adapter, snapshot
from agenthub.local.adopt import CannotAdopt, adopting
from agenthub.local.deploy import Deployer, Stack
from agenthub.local.persistence import LocalState, StateUnreadable
from tests.support.moto_stack import REGION, STACK_NAME, _translation, client
from tests.support.waiting import wait_until

KEPT_IDS = (
    "UserPool",
    "UserPoolClient",
    "MachineClient",
    "CatalogTable",
    "DataLakeBucket",
    "CoreWriterSubscriber.Queue",
    "InvokeModelPipeline",
)


@pytest.fixture
def cloud() -> Iterator[None]:
    moto_adapter.install()
    # The local cloud's emulator runs executions (execute_state_machine), in the interpreter's backend.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


def deploy() -> Stack:
    return Deployer(_translation(()), adopting(client), STACK_NAME, REGION).deploy()


def restart() -> list[snapshot.Interrupted]:
    saved = snapshot.capture()
    BackendDict.reset()
    return snapshot.restore(snapshot.load(saved))


def inventory() -> dict[str, Any]:
    cognito = client("cognito-idp")
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    clients = {
        pool["Id"]: sorted(
            (c["ClientId"], c["ClientName"])
            for c in cognito.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=60)["UserPoolClients"]
        )
        for pool in pools
    }
    return {
        "pools": sorted(pool["Id"] for pool in pools),
        "clients": clients,
        "tables": sorted(client("dynamodb").list_tables()["TableNames"]),
        "queues": sorted(client("sqs").list_queues().get("QueueUrls", [])),
        "buckets": sorted(bucket["Name"] for bucket in client("s3").list_buckets()["Buckets"]),
        "machines": sorted(
            m["stateMachineArn"] for m in client("stepfunctions").list_state_machines()["stateMachines"]
        ),
    }


def test_deploying_over_a_restored_state_adopts_every_resource_and_duplicates_none(cloud: None) -> None:
    first = deploy()
    before = inventory()
    secret = client("cognito-idp").describe_user_pool_client(
        UserPoolId=first.ref("UserPool"), ClientId=first.ref("MachineClient")
    )["UserPoolClient"]["ClientSecret"]

    restart()
    second = deploy()

    assert inventory() == before
    assert {name: second.ref(name) for name in KEPT_IDS} == {name: first.ref(name) for name in KEPT_IDS}
    assert (
        client("cognito-idp").describe_user_pool_client(
            UserPoolId=second.ref("UserPool"), ClientId=second.ref("MachineClient")
        )["UserPoolClient"]["ClientSecret"]
        == secret
    )


def test_data_users_and_messages_come_back_and_what_was_in_flight_is_visible_again(cloud: None) -> None:
    stack = deploy()
    s3, dynamodb, sqs, cognito = client("s3"), client("dynamodb"), client("sqs"), client("cognito-idp")
    lake, pool = stack.ref("DataLakeBucket"), stack.ref("UserPool")
    s3.put_object(Bucket=lake, Key="datasets/ada/ds-1.jsonl", Body=b'{"text": "kept"}\n')
    dynamodb.put_item(
        TableName=stack.ref("CatalogTable"), Item={"pk": {"S": "TOOL#search"}, "sk": {"S": "TOOL"}}
    )
    created = cognito.admin_create_user(UserPoolId=pool, Username="ada", MessageAction="SUPPRESS")
    sub = next(a["Value"] for a in created["User"]["Attributes"] if a["Name"] == "sub")
    queue = stack.ref("CoreWriterSubscriber.Queue")
    for body in ("first", "second"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    in_flight = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=600)["Messages"]
    tap = sqs.create_queue(QueueName=f"{snapshot.TAP_QUEUE_PREFIX}left-by-a-crash")["QueueUrl"]

    restart()
    deploy()

    lake_object = s3.get_object(Bucket=lake, Key="datasets/ada/ds-1.jsonl")
    assert lake_object["Body"].read() == b'{"text": "kept"}\n'
    assert "Item" in dynamodb.get_item(
        TableName=stack.ref("CatalogTable"), Key={"pk": {"S": "TOOL#search"}, "sk": {"S": "TOOL"}}
    )
    user = cognito.admin_get_user(UserPoolId=pool, Username="ada")
    assert {"Name": "sub", "Value": sub} in user["UserAttributes"]
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])
    delivered = received["Messages"]
    assert sorted(message["Body"] for message in delivered) == ["first", "second"]
    again = next(message for message in delivered if message["MessageId"] == in_flight[0]["MessageId"])
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"  # delivered again: at least once
    assert tap not in sqs.list_queues().get("QueueUrls", [])


PASS = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}
WAIT = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}


def machine(name: str, definition: dict[str, Any]) -> str:
    arn: str = client("stepfunctions").create_state_machine(
        name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/probe"
    )["stateMachineArn"]
    return arn


def test_a_finished_execution_keeps_its_record_and_a_running_one_is_handed_back_to_start_again(
    cloud: None,
) -> None:
    sfn = client("stepfunctions")
    finished = sfn.start_execution(stateMachineArn=machine("quick", PASS), name="quick-1", input='{"n": 1}')
    running = sfn.start_execution(stateMachineArn=machine("slow", WAIT), name="slow-1", input='{"n": 2}')
    wait_until(
        lambda: sfn.describe_execution(executionArn=finished["executionArn"])["status"] != "RUNNING",
        30,
        what="the quick execution's end",
    )
    history = sfn.get_execution_history(executionArn=finished["executionArn"])["events"]

    interrupted = restart()

    described = sfn.describe_execution(executionArn=finished["executionArn"])
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"ok": True})
    assert sfn.get_execution_history(executionArn=finished["executionArn"])["events"] == history
    assert interrupted == [snapshot.Interrupted(machine_arn(running["executionArn"]), "slow-1", '{"n": 2}')]
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.describe_execution(executionArn=running["executionArn"])


def machine_arn(execution_arn: str) -> str:
    return execution_arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]


def test_a_table_whose_key_changed_is_not_silently_replaced(cloud: None) -> None:
    stack = deploy()
    dynamodb = adopting(client)("dynamodb")

    with pytest.raises(CannotAdopt, match=r"key schema changed.*--fresh"):
        dynamodb.create_table(
            TableName=stack.ref("CatalogTable"),
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )


def test_an_edited_state_machine_is_updated_in_place(cloud: None) -> None:
    arn = machine("edited", PASS)
    edited = {**PASS, "Comment": "edited"}

    answer = adopting(client)("stepfunctions").create_state_machine(
        name="edited", definition=json.dumps(edited), roleArn="arn:aws:iam::123456789012:role/probe"
    )

    assert answer["stateMachineArn"] == arn
    described = client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    assert json.loads(described["definition"])["Comment"] == "edited"


class StillEmulator:
    """What saving needs of the emulator: its gate, and no stand-ins."""

    def __init__(self) -> None:
        from agenthub.local.emulator import Gate

        self.gate = Gate()
        self.standins = None


def test_a_saved_state_is_read_back_and_one_from_another_version_is_refused(
    cloud: None, tmp_path: Path
) -> None:
    deploy()
    state = LocalState(tmp_path)

    about = state.save(StillEmulator())  # type: ignore[arg-type]
    restored = state.load()

    assert about["quiet"] is True
    assert restored is not None
    assert restored.snapshot.counts()["dynamodb"] == 0
    about_file = tmp_path / "saved" / "about.json"
    about_file.write_text(json.dumps({**about, "moto": "0.0.1"}))
    with pytest.raises(StateUnreadable, match=r"moto 0\.0\.1.*agenthub local up --fresh"):
        state.load()
    about_file.write_text(json.dumps(about))
    (tmp_path / "saved" / "state.pickle").write_bytes(b"not a pickle")
    with pytest.raises(StateUnreadable, match="cannot be read"):
        state.load()


def test_fresh_keeps_the_logs_and_reset_wipes_them_too(tmp_path: Path) -> None:
    for entry in ("saved/state.pickle", "logs/emulator.log", "local-secret", "my-notes.txt"):
        (tmp_path / entry).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / entry).write_text("x")

    LocalState(tmp_path).wipe(logs=False)
    kept_logs = (tmp_path / "logs").exists()
    LocalState(tmp_path).wipe()

    assert kept_logs
    assert sorted(path.name for path in tmp_path.iterdir()) == ["my-notes.txt"]  # only its own
