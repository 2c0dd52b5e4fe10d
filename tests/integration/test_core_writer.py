"""Core writer against the template's catalog, memory table, data lake and hub subscription (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from agenthub.local.deploy import Stack
from agenthub.local.pollers import lambda_sqs_event
from shared.hub import new_event
from tests.support.events import api_event, hub_delivery, load_event
from tests.support.faults import failing
from tests.support.moto_stack import REGION, FunctionRunner, client, drain

SUBJECT = "2f6b7a3e-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
REQUEST_ID = "7d0c8a52-3f1e-4b6a-9c2d-5e8f1a2b3c4d"
T0 = datetime(2026, 11, 25, 13, 40, tzinfo=UTC)


def hub_event(
    event_type: str, payload: dict[str, Any], *, seconds: int = 0, pipeline: str = "invoke", **kw: Any
) -> Any:
    return new_event(
        event_type=event_type,
        request_id=kw.get("request_id", REQUEST_ID),
        pipeline=pipeline,
        source=kw.get("source", "processing"),
        subject=kw.get("subject", SUBJECT),
        payload=payload,
        occurred_at=T0 + timedelta(seconds=seconds),
        first_stage=kw.get("first_stage"),
    )


ACCEPTED = hub_event(
    "request.accepted", {"input": {"prompt": "hi"}, "stages": ["invoke"]}, first_stage="invoke"
)
STARTED = hub_event("invoke.started", {}, seconds=1)
COMPLETED = hub_event(
    "invoke.completed",
    {"output_text": "hello", "stop_reason": "end_turn", "model_id": "amazon.nova-lite-v1:0", "prompt": "hi"},
    seconds=2,
)
FAILED = hub_event(
    "invoke.failed", {"error": "BedrockRuntime.ThrottlingException", "cause": "slow down"}, seconds=3
)


def deliver(functions: FunctionRunner, *events: Any) -> dict[str, Any]:
    response: dict[str, Any] = functions.invoke("CoreWriterFunction", hub_delivery(*events))
    return response


def catalog_row(stack: Stack, request_id: str = REQUEST_ID) -> dict[str, Any]:
    item = client("dynamodb").get_item(
        TableName=stack.ref("CatalogTable"),
        Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
    )["Item"]
    return {"status": item["status"]["S"], **json.loads(item["body"]["S"])}


def history(stack: Stack) -> list[str]:
    return [entry["event_type"] for entry in catalog_row(stack)["history"]]


def test_the_sample_event_file_records_a_finished_request_and_its_turn(
    stack: Stack, functions: FunctionRunner
) -> None:
    response = functions.invoke("CoreWriterFunction", load_event("core/hub_events.json"))

    assert response == {"batchItemFailures": []}
    row = catalog_row(stack)
    assert row["status"] == "SUCCEEDED"
    assert json.loads(row["result"]["inline"])["output_text"].startswith("Fan-out")
    assert [entry["status"] for entry in row["history"]] == ["ACCEPTED", "RUNNING", "SUCCEEDED"]
    turns = client("dynamodb").query(
        TableName=stack.ref("AgentMemoryTable"),
        KeyConditionExpression="session_key = :session",
        ExpressionAttributeValues={":session": {"S": f"{SUBJECT}#ada-notes"}},
    )["Items"]
    assert [turn["user_text"]["S"] for turn in turns] == ["Name three uses of a pub/sub hub."]


def test_a_duplicate_delivery_changes_nothing(stack: Stack, functions: FunctionRunner) -> None:
    deliver(functions, ACCEPTED, STARTED, COMPLETED)
    before = catalog_row(stack)

    response = deliver(functions, ACCEPTED, STARTED, COMPLETED)

    assert response == {"batchItemFailures": []}
    assert catalog_row(stack) == before
    assert history(stack) == ["request.accepted", "invoke.started", "invoke.completed"]


def test_out_of_order_events_never_move_the_status_back(stack: Stack, functions: FunctionRunner) -> None:
    deliver(functions, COMPLETED)
    assert catalog_row(stack)["status"] == "SUCCEEDED"

    deliver(functions, STARTED, FAILED, ACCEPTED)

    row = catalog_row(stack)
    assert row["status"] == "SUCCEEDED"
    assert json.loads(row["input"]["inline"]) == {"prompt": "hi"}
    assert row["error"] is None
    assert sorted(history(stack)) == sorted(
        ["invoke.completed", "invoke.started", "invoke.failed", "request.accepted"]
    )


def test_the_first_terminal_status_wins(stack: Stack, functions: FunctionRunner) -> None:
    deliver(functions, ACCEPTED, FAILED)
    deliver(functions, COMPLETED)

    row = catalog_row(stack)
    assert row["status"] == "FAILED"
    assert json.loads(row["error"]["inline"])["error"] == "BedrockRuntime.ThrottlingException"
    assert row["result"] is None


def test_a_poison_message_fails_alone_and_the_rest_of_the_batch_is_kept(
    stack: Stack, functions: FunctionRunner
) -> None:
    (poison,) = hub_delivery(STARTED)["Records"]
    event = {"Records": [{**poison, "messageId": "poison-1", "body": "not an SNS notification"}]}
    event["Records"] += hub_delivery(ACCEPTED)["Records"]

    response = functions.invoke("CoreWriterFunction", event)

    assert response == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    assert catalog_row(stack)["status"] == "ACCEPTED"


def test_an_event_naming_another_callers_request_is_refused(stack: Stack, functions: FunctionRunner) -> None:
    deliver(functions, ACCEPTED)
    forged = hub_event("invoke.completed", {"output_text": "stolen"}, seconds=5, subject="someone-else")

    response = deliver(functions, forged)

    assert response == {"batchItemFailures": [{"itemIdentifier": forged.event_id}]}
    assert catalog_row(stack)["status"] == "ACCEPTED"


def test_a_large_result_goes_to_the_lake_before_the_catalog_links_it(
    stack: Stack, functions: FunctionRunner
) -> None:
    """docs/reliability.md #21: S3 written, catalog write failed; the retry links an object that exists."""
    big = hub_event("invoke.completed", {"output_text": "x" * 20_000, "prompt": "hi"}, seconds=2)
    functions.activate("CoreWriterFunction")
    from shared import aws

    with failing(aws.dynamodb(), "PutItem", "InternalServerError", times=1):
        first = deliver(functions, big)
    assert first == {"batchItemFailures": [{"itemIdentifier": big.event_id}]}
    assert "Item" not in client("dynamodb").get_item(
        TableName=stack.ref("CatalogTable"),
        Key={"pk": {"S": f"REQUEST#{REQUEST_ID}"}, "sk": {"S": "REQUEST"}},
    )

    retried = deliver(functions, big)

    assert retried == {"batchItemFailures": []}
    ref = catalog_row(stack)["result"]["ref"]
    bucket, key = ref[len("s3://") :].split("/", 1)
    stored = json.loads(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert stored["output_text"] == "x" * 20_000
    assert history(stack) == ["invoke.completed"]


def test_a_request_through_the_front_door_and_the_hub_reads_back_for_its_caller_only(
    stack: Stack, functions: FunctionRunner
) -> None:
    submitted = functions.invoke("FrontDoorFunction", api_event("front_door/post_request_invoke.json"))
    request_id = json.loads(submitted["body"])["request_id"]
    messages = drain(stack.ref("CoreWriterSubscriber.Queue"))
    assert functions.invoke("CoreWriterFunction", lambda_sqs_event(messages, "queue-arn", REGION)) == {
        "batchItemFailures": []
    }

    mine = functions.invoke(
        "FrontDoorFunction",
        api_event("front_door/get_request.json", path_parameters={"request_id": request_id}),
    )
    theirs = functions.invoke(
        "FrontDoorFunction",
        api_event(
            "front_door/get_request.json", path_parameters={"request_id": request_id}, subject="someone-else"
        ),
    )

    assert mine["statusCode"] == 200
    view = json.loads(mine["body"])
    assert view["status"] == "ACCEPTED"
    assert view["stages"] == ["invoke"]
    assert [entry["event_type"] for entry in view["history"]] == ["request.accepted"]
    assert theirs["statusCode"] == 404


def test_a_claim_checked_request_is_stored_from_the_lake(stack: Stack, functions: FunctionRunner) -> None:
    text = "word " * 80_000
    body = {"pipeline": "preprocess", "input": {"text": text}}
    functions.invoke("FrontDoorFunction", api_event("front_door/post_request_preprocess.json", body=body))
    messages = drain(stack.ref("CoreWriterSubscriber.Queue"))

    assert functions.invoke("CoreWriterFunction", lambda_sqs_event(messages, "queue-arn", REGION)) == {
        "batchItemFailures": []
    }

    (row_item,) = [
        item
        for item in client("dynamodb").scan(TableName=stack.ref("CatalogTable"))["Items"]
        if item["pk"]["S"].startswith("REQUEST#")
    ]
    stored = json.loads(row_item["body"]["S"])["input"]
    bucket, key = stored["ref"][len("s3://") :].split("/", 1)
    assert key.startswith("requests/")
    # The catalog keeps the input as validated, defaults included, so the request can be replayed.
    assert json.loads(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()) == {
        "text": text,
        "chunk_tokens": 800,
    }


def test_a_late_answer_to_a_cancelled_request_stays_out_of_memory(
    stack: Stack, functions: FunctionRunner
) -> None:
    cancelled = hub_event("invoke.cancelled", {"note": "cancelled"}, seconds=1)
    late = hub_event(
        "invoke.completed",
        {"output_text": "too late", "prompt": "hi", "session_id": "s-late", "model_id": "m"},
        seconds=5,
    )

    deliver(functions, ACCEPTED, cancelled, late)

    assert catalog_row(stack)["status"] == "CANCELLED"
    assert history(stack)[-1] == "invoke.completed"
    turns = client("dynamodb").query(
        TableName=stack.ref("AgentMemoryTable"),
        KeyConditionExpression="session_key = :session",
        ExpressionAttributeValues={":session": {"S": f"{SUBJECT}#s-late"}},
    )["Items"]
    assert turns == []


def test_a_turn_lost_between_the_catalog_write_and_memory_is_remembered_on_redelivery(
    stack: Stack, functions: FunctionRunner
) -> None:
    """Memory is written only once the event's catalog write has won; if the function fails in
    between, the redelivered event (a duplicate for the catalog) still adds the turn, once."""
    from shared import aws

    answered = hub_event(
        "invoke.completed",
        {"output_text": "hello", "prompt": "hi", "session_id": "s-crash", "model_id": "m"},
        seconds=2,
    )
    deliver(functions, ACCEPTED)
    memory_table = stack.ref("AgentMemoryTable")

    with failing(
        aws.dynamodb(), "PutItem", "InternalServerError", when=lambda call: call["TableName"] == memory_table
    ):
        first = deliver(functions, answered)

    assert first == {"batchItemFailures": [{"itemIdentifier": answered.event_id}]}
    assert catalog_row(stack)["status"] == "SUCCEEDED"
    assert session_turns(stack, "s-crash") == []

    assert deliver(functions, answered) == {"batchItemFailures": []}
    assert deliver(functions, answered) == {"batchItemFailures": []}

    assert [turn["assistant_text"]["S"] for turn in session_turns(stack, "s-crash")] == ["hello"]
    assert history(stack).count("invoke.completed") == 1


def session_turns(stack: Stack, session_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client("dynamodb").query(
        TableName=stack.ref("AgentMemoryTable"),
        KeyConditionExpression="session_key = :session",
        ExpressionAttributeValues={":session": {"S": f"{SUBJECT}#{session_id}"}},
    )["Items"]
    return items


def test_a_result_naming_lake_objects_reads_back_with_links_and_no_bucket_path(
    stack: Stack, functions: FunctionRunner
) -> None:
    lake = stack.ref("DataLakeBucket")
    mine = f"work/preprocess/{SUBJECT}/{REQUEST_ID}/chunk-0000.txt"
    client("s3").put_object(Bucket=lake, Key=mine, Body=b"the chunk")
    accepted = hub_event(
        "request.accepted", {"input": {"text": "x"}, "stages": ["preprocess"]}, pipeline="preprocess"
    )
    completed = hub_event(
        "preprocess.completed",
        {
            "chunks": [
                {"index": 0, "ref": f"s3://{lake}/{mine}"},
                {"index": 1, "ref": f"s3://{lake}/work/preprocess/someone-else/r/chunk-0000.txt"},
            ],
            "stats": {"chunks": 2},
        },
        pipeline="preprocess",
        seconds=2,
    )
    deliver(functions, accepted, completed)

    reply = functions.invoke(
        "FrontDoorFunction",
        api_event("front_door/get_request.json", path_parameters={"request_id": REQUEST_ID}),
    )

    assert reply["statusCode"] == 200
    assert "s3://" not in reply["body"]
    chunks = json.loads(reply["body"])["result"]["chunks"]
    assert chunks[1] == {"index": 1, "ref": "(an object in the data lake)"}
    _host, key = chunks[0]["url"].split("?")[0].removeprefix("https://").split("/", 1)
    assert key == mine  # a presigned GET of the caller's own chunk
