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


def test_prepare_model_request_builds_bounded_converse_arguments(
    stack: Stack, functions: FunctionRunner
) -> None:
    prepared = functions.invoke(
        "PrepareModelRequestFunction", load_event("processing/prepare_model_request_task.json")
    )

    assert prepared == {
        "model_id": "amazon.nova-lite-v1:0",
        "prompt": "Name three uses of a pub/sub hub.",
        "user_message": {"Role": "user", "Content": [{"Text": "Name three uses of a pub/sub hub."}]},
        "inference": {"MaxTokens": 256, "Temperature": 0.2, "TopP": 0.9},
        "session_id": "ada-notes",
        "session_key": "2f6b7a3e-1c4d-4e5f-8a9b-0c1d2e3f4a5b#ada-notes",
    }


def test_prepare_model_request_brings_in_a_chained_requests_document(
    stack: Stack, functions: FunctionRunner
) -> None:
    event = load_event("processing/prepare_model_request_chained_task.json")
    event["event"]["payload"]["chunks"][0]["ref"] = event["event"]["payload"]["chunks"][0]["ref"].replace(
        "agent-hub-datalakebucket-example", stack.ref("DataLakeBucket")
    )
    put_chunk(stack, event, "The agent hub is a set of small services.")

    prepared = functions.invoke("PrepareModelRequestFunction", event)

    assert prepared["user_message"]["Content"][0]["Text"] == (
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
    result = functions.invoke("ProcessingPublisherFunction", load_event("shared/hub_publisher_started.json"))

    (event,) = hub_messages(drain(stack.ref("CoreWriterQueue")))
    assert event["event_id"] == result["event_id"]
    assert event["event_type"] == "invoke.started"
    assert event["source"] == "processing"
    assert event["request_id"] == "7d0c8a52-3f1e-4b6a-9c2d-5e8f1a2b3c4d"


def test_the_trigger_starts_one_execution_per_request_even_when_redelivered(
    stack: Stack, functions: FunctionRunner
) -> None:
    event = load_event("shared/pipeline_trigger_invoke.json")

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
    event = load_event("shared/pipeline_trigger_preprocess.json")

    response = functions.invoke("InvokeTriggerFunction", event)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert (
        client("stepfunctions").list_executions(stateMachineArn=stack.ref("InvokeModelPipeline"))[
            "executions"
        ]
        == []
    )
