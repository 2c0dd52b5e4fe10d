"""The processing microservice's Lambdas, run from their sample events against the template's resources."""

from __future__ import annotations

import json

import pytest

from agenthub.local.deploy import Stack
from tests.support.events import load_event
from tests.support.moto_stack import FunctionRunner, client, drain, hub_messages


def put_chunk(stack: Stack, event: dict[str, object], text: str) -> None:
    ref = event["event"]["payload"]["chunks"][0]["ref"]  # type: ignore[index]
    key = ref.split("/", 3)[3]
    client("s3").put_object(Bucket=stack.ref("DataLakeBucket"), Key=key, Body=text.encode())


def test_preprocess_writes_chunks_to_the_lake_and_returns_only_pointers(
    stack: Stack, functions: FunctionRunner
) -> None:
    result = functions.invoke("PreprocessFunction", load_event("processing/preprocess_task.json"))

    (chunk,) = result["chunks"]
    assert chunk["ref"].startswith(f"s3://{stack.ref('DataLakeBucket')}/work/preprocess/")
    key = chunk["ref"].split("/", 3)[3]
    stored = client("s3").get_object(Bucket=stack.ref("DataLakeBucket"), Key=key)["Body"].read().decode()
    assert stored == "The hub routes every request\n\nthrough one SNS topic."
    assert result["stats"] == {
        "characters_in": 59,
        "characters": len(stored),
        "words": 9,
        "estimated_tokens": -(-len(stored) // 4),
        "chunks": 1,
        "chunk_tokens": 200,
    }
    assert "request_input" not in result
    # Beside the chunks, all of them in one object, for a reader of the whole document (the search tool).
    whole = client("s3").get_object(
        Bucket=stack.ref("DataLakeBucket"), Key=key.rsplit("/", 1)[0] + "/chunks.json"
    )
    assert json.loads(whole["Body"].read()) == {"chunks": [stored]}
    assert whole["Metadata"] == {"chunks": "1"}


def test_prepare_model_request_builds_bounded_converse_arguments(
    stack: Stack, functions: FunctionRunner
) -> None:
    prepared = functions.invoke(
        "PrepareModelRequestFunction", load_event("processing/prepare_model_request_task.json")
    )

    assert prepared == {
        "model_id": "amazon.nova-lite-v1:0",
        "prompt": "Name three uses of a pub/sub hub.",
        "messages": [{"Role": "user", "Content": [{"Text": "Name three uses of a pub/sub hub."}]}],
        "inference": {"MaxTokens": 256, "Temperature": 0.2, "TopP": 0.9},
        "session_id": "ada-notes",
        "history_turns": 0,
    }


def test_prepare_model_request_brings_in_a_chained_requests_document(
    stack: Stack, functions: FunctionRunner
) -> None:
    event = load_event("processing/prepare_model_request_chained_task.json", stack)
    put_chunk(stack, event, "The agent hub is a set of small services.")

    prepared = functions.invoke("PrepareModelRequestFunction", event)

    assert prepared["messages"][-1]["Content"][0]["Text"] == (
        "Summarise the document.\n\n<document>\nThe agent hub is a set of small services.\n</document>"
    )
    assert prepared["document"] == {"chunks": 1, "characters": 41, "truncated": False}


def test_prepare_model_request_refuses_a_model_outside_the_allowed_list(
    stack: Stack, functions: FunctionRunner
) -> None:
    event = load_event("processing/prepare_model_request_task.json")
    event["event"]["payload"]["input"]["model_id"] = "anthropic.claude-v2"

    with pytest.raises(Exception, match="is not one of the allowed models") as raised:
        functions.invoke("PrepareModelRequestFunction", event)

    assert type(raised.value).__name__ == "InvalidModelRequest"


def test_the_publisher_announces_in_the_hub_envelope(stack: Stack, functions: FunctionRunner) -> None:
    result = functions.invoke(
        "ProcessingPublisherFunction", load_event("pipeline_kit/announcer_started.json")
    )

    (event,) = hub_messages(drain(stack.ref("CoreWriterSubscriber.Queue")))
    assert event["event_id"] == result["event_id"]
    assert event["event_type"] == "invoke.started"
    assert event["source"] == "processing"
    assert event["request_id"] == "7d0c8a52-3f1e-4b6a-9c2d-5e8f1a2b3c4d"


def test_the_trigger_starts_one_execution_per_request_even_when_redelivered(
    stack: Stack, functions: FunctionRunner
) -> None:
    event = load_event("pipeline_kit/trigger_invoke.json", stack)

    first = functions.invoke("InvokeTriggerFunction", event)
    again = functions.invoke("InvokeTriggerFunction", event)

    assert first == again == {"batchItemFailures": []}
    executions = client("stepfunctions").list_executions(stateMachineArn=stack.ref("InvokeModelPipeline"))[
        "executions"
    ]
    assert sorted(execution["name"] for execution in executions) == [
        "invoke-7d0c8a52-3f1e-4b6a-9c2d-5e8f1a2b3c4d",
        "invoke-9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
    ]
    started = client("stepfunctions").describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(started["input"])["event"]["request_id"] in executions[0]["name"]


def test_the_trigger_refuses_an_event_its_stage_does_not_start_on(
    stack: Stack, functions: FunctionRunner
) -> None:
    event = load_event("pipeline_kit/trigger_preprocess.json")

    response = functions.invoke("InvokeTriggerFunction", event)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert (
        client("stepfunctions").list_executions(stateMachineArn=stack.ref("InvokeModelPipeline"))[
            "executions"
        ]
        == []
    )


def seed_turns(stack: Stack, subject: str, session: str, turns: list[tuple[str, str]]) -> None:
    for index, (user, assistant) in enumerate(turns):
        client("dynamodb").put_item(
            TableName=stack.ref("AgentMemoryTable"),
            Item={
                "session_key": {"S": f"{subject}#{session}"},
                "turn_key": {"S": f"2026-11-25T10:{index:02d}:00+00:00#r{index}"},
                "request_id": {"S": f"r{index}"},
                "user_text": {"S": user},
                "assistant_text": {"S": assistant},
                "model_id": {"S": "amazon.nova-lite-v1:0"},
            },
        )


def test_the_session_history_comes_oldest_first_before_the_new_question(
    stack: Stack, functions: FunctionRunner
) -> None:
    seed_turns(
        stack, "2f6b7a3e-1c4d-4e5f-8a9b-0c1d2e3f4a5b", "ada-notes", [("first?", "one"), ("second?", "two")]
    )

    prepared = functions.invoke(
        "PrepareModelRequestFunction", load_event("processing/prepare_model_request_task.json")
    )

    assert [message["Content"][0]["Text"] for message in prepared["messages"]] == [
        "first?",
        "one",
        "second?",
        "two",
        "Name three uses of a pub/sub hub.",
    ]
    assert prepared["history_turns"] == 2


def test_the_model_request_stays_within_the_state_budget(stack: Stack, functions: FunctionRunner) -> None:
    from processing.prepare_model_request import REQUEST_BUDGET_BYTES, size

    long_turns = [(f"question {n} " + "é" * 20_000, "answer " * 5_000) for n in range(10)]
    seed_turns(stack, "2f6b7a3e-1c4d-4e5f-8a9b-0c1d2e3f4a5b", "ada-notes", long_turns)

    prepared = functions.invoke(
        "PrepareModelRequestFunction", load_event("processing/prepare_model_request_task.json")
    )

    assert size(prepared) <= REQUEST_BUDGET_BYTES
    assert 0 < prepared["history_turns"] < 10
    kept = [message["Content"][0]["Text"] for message in prepared["messages"] if message["Role"] == "user"]
    assert kept[-2].startswith("question 9")  # the newest turns are the ones kept


def test_a_huge_document_is_cut_to_fit_and_says_so(stack: Stack, functions: FunctionRunner) -> None:
    from processing.prepare_model_request import REQUEST_BUDGET_BYTES, size

    event = load_event("processing/prepare_model_request_chained_task.json")
    chunks = []
    for index in range(6):
        key = f"work/preprocess/big/chunk-{index:04d}.txt"
        client("s3").put_object(Bucket=stack.ref("DataLakeBucket"), Key=key, Body=("ü" * 30_000).encode())
        chunks.append({"index": index, "ref": f"s3://{stack.ref('DataLakeBucket')}/{key}"})
    event["event"]["payload"]["chunks"] = chunks

    prepared = functions.invoke("PrepareModelRequestFunction", event)

    assert prepared["document"]["truncated"] is True
    assert size(prepared) <= REQUEST_BUDGET_BYTES


def test_a_cancelled_request_is_not_started_by_its_trigger(stack: Stack, functions: FunctionRunner) -> None:
    client("dynamodb").put_item(
        TableName=stack.ref("PipelineStartsTable"),
        Item={
            "id": {"S": "cancelled#7d0c8a52-3f1e-4b6a-9c2d-5e8f1a2b3c4d"},
            "expiration": {"N": "4102444800"},
        },
    )

    response = functions.invoke("InvokeTriggerFunction", load_event("pipeline_kit/trigger_invoke.json"))

    assert response == {"batchItemFailures": []}
    names = [
        e["name"]
        for e in client("stepfunctions").list_executions(stateMachineArn=stack.ref("InvokeModelPipeline"))[
            "executions"
        ]
    ]
    assert names == [
        "invoke-9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
    ]  # the other request, not the cancelled one


def test_the_execution_input_is_utf8_not_escapes(stack: Stack, functions: FunctionRunner) -> None:
    event = load_event("pipeline_kit/trigger_invoke.json")
    record = event["Records"][0]
    notification = json.loads(record["body"])
    envelope = json.loads(notification["Message"])
    envelope["payload"]["input"]["prompt"] = "日本語の質問です。" * 1000
    notification["Message"] = json.dumps(envelope, ensure_ascii=False)
    record["body"] = json.dumps(notification)
    event["Records"] = [record]

    assert functions.invoke("InvokeTriggerFunction", event) == {"batchItemFailures": []}

    (execution,) = client("stepfunctions").list_executions(stateMachineArn=stack.ref("InvokeModelPipeline"))[
        "executions"
    ]
    started = client("stepfunctions").describe_execution(executionArn=execution["executionArn"])["input"]
    assert "\\u" not in started
    assert len(started.encode()) < len(json.dumps(envelope).encode())
