"""The preprocess and invoke pipelines' real state machines, end to end: trigger to catalog.

Each test marks its own request with a unique word, so fault rules aimed at that word touch no
other test's request.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from agenthub.client import HubClient
from tests.e2e.conftest import Hub, subject_of


@pytest.fixture(scope="module")
def client(hub: Hub) -> HubClient:
    return hub.client("pipeline-tester")


def marker() -> str:
    return f"m{uuid.uuid4().hex[:12]}"


def invoke(client: HubClient, prompt: str, **extra: Any) -> str:
    reply = client.submit({"pipeline": "invoke", "input": {"prompt": prompt, **extra}})
    assert reply.status == 202, reply.body
    return str(reply.body["request_id"])


def history(view: dict[str, Any]) -> list[str]:
    return [entry["event_type"] for entry in view["history"]]


def fetch(url: str) -> str:
    """An object the view handed out, fetched as a caller would: its presigned URL, no credentials."""
    assert url.startswith("http"), url
    reply = requests.get(url, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.text


def test_preprocess_cleans_measures_and_chunks_into_the_lake(hub: Hub, client: HubClient) -> None:
    text = (
        "First   paragraph,\twith  spaces.\r\n\r\n\r\n\r\nSecond paragraph.\x07 " + "More words here. " * 60
    )
    reply = client.submit({"pipeline": "preprocess", "input": {"text": text, "chunk_tokens": 100}})

    view = client.wait(reply.body["request_id"])

    assert view["status"] == "SUCCEEDED"
    assert history(view) == ["request.accepted", "preprocess.started", "preprocess.completed"]
    result = view["result"]
    assert result["stats"]["chunks"] == len(result["chunks"]) > 1
    assert result["stats"]["characters_in"] == len(text)
    assert "s3://" not in json.dumps(view)
    chunks = [fetch(chunk["url"]) for chunk in result["chunks"]]
    assert chunks[0].startswith("First paragraph, with spaces.\n\nSecond paragraph.")
    assert all(len(chunk) <= 100 * 4 for chunk in chunks)
    assert "\x07" not in "".join(chunks)


def test_invoke_answers_and_the_session_remembers_earlier_turns(hub: Hub, client: HubClient) -> None:
    session = f"s-{uuid.uuid4().hex[:8]}"
    first = client.wait(invoke(client, "What does the hub do?", session_id=session))
    second = client.wait(invoke(client, "And why one topic?", session_id=session))

    assert first["status"] == second["status"] == "SUCCEEDED"
    assert history(first) == ["request.accepted", "invoke.started", "invoke.completed"]
    assert first["result"]["model_id"] == "amazon.nova-lite-v1:0"
    assert first["result"]["stop_reason"] == "end_turn"
    assert "earlier turn" not in first["result"]["output_text"]
    assert "1 earlier turn(s), starting with: 'What does the hub do?'" in second["result"]["output_text"]
    turns = hub.aws("dynamodb").query(
        TableName=hub.ref("AgentMemoryTable"),
        KeyConditionExpression="session_key = :key",
        ExpressionAttributeValues={":key": {"S": f"{subject_of(client)}#{session}"}},
    )["Items"]
    assert [turn["user_text"]["S"] for turn in turns] == ["What does the hub do?", "And why one topic?"]


def test_a_chained_request_runs_preprocess_then_invoke_through_the_hub(client: HubClient) -> None:
    document = "The hub carries every message. " * 40
    request_id = invoke(client, "Summarise the document", preprocess={"text": document, "chunk_tokens": 60})

    view = client.wait(request_id)

    assert view["status"] == "SUCCEEDED"
    assert history(view) == [
        "request.accepted",
        "preprocess.started",
        "preprocess.completed",
        "invoke.started",
        "invoke.completed",
    ]
    assert view["stages"] == ["preprocess", "invoke"]
    assert view["result"]["document"]["chunks"] > 1
    assert "<document>" in view["result"]["output_text"]


def test_the_catalog_shows_running_while_the_model_is_busy(hub: Hub, client: HubClient) -> None:
    word = marker()
    hub.fault(operation="Converse", match=word, delay_seconds=3, times=1)
    request_id = invoke(client, f"slow {word}")

    running = client.wait(request_id, timeout=30, until=("RUNNING",))
    done = client.wait(request_id)

    assert "invoke.started" in history(running)
    assert done["status"] == "SUCCEEDED"


def test_throttling_is_retried_with_backoff_then_succeeds(hub: Hub, client: HubClient) -> None:
    word = marker()
    hub.fault(operation="Converse", match=word, error="ThrottlingException", times=2)

    view = client.wait(invoke(client, f"busy model {word}"))

    assert view["status"] == "SUCCEEDED"
    assert hub.calls("Converse", word) == 3


def test_throttling_past_the_retries_fails_with_the_error_name(hub: Hub, client: HubClient) -> None:
    word = marker()
    hub.fault(operation="Converse", match=word, error="ThrottlingException")

    view = client.wait(invoke(client, f"always busy {word}"), timeout=90)

    assert view["status"] == "FAILED"
    assert view["error"]["error"] == "BedrockRuntime.ThrottlingException"
    assert history(view)[-1] == "invoke.failed"
    assert hub.calls("Converse", word) == 3  # the first call and two retries


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException"])
def test_validation_and_access_errors_are_not_retried(hub: Hub, client: HubClient, code: str) -> None:
    word = marker()
    hub.fault(operation="Converse", match=word, error=code)

    view = client.wait(invoke(client, f"bad request {word}"))

    assert view["status"] == "FAILED"
    assert view["error"]["error"] == f"BedrockRuntime.{code}"
    assert hub.calls("Converse", word) == 1


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ({"stop_reason": "guardrail_intervened"}, "ModelReplyBlocked"),
        ({"stop_reason": "content_filtered"}, "ModelReplyBlocked"),
        ({"reply_text": ""}, "MalformedModelReply"),
    ],
)
def test_a_blocked_or_empty_reply_is_a_recorded_failure(
    hub: Hub, client: HubClient, rule: dict[str, Any], error: str
) -> None:
    word = marker()
    hub.fault(operation="Converse", match=word, **rule)

    view = client.wait(invoke(client, f"risky {word}"))

    assert view["status"] == "FAILED"
    assert view["error"]["error"] == error
    assert view["result"] is None


@pytest.mark.parametrize(
    ("error", "step_error"),
    [
        ("Runtime.ExitError", "Runtime.ExitError"),
        ("Sandbox.Timedout", "Sandbox.Timedout"),
        ("TooManyRequestsException", "Lambda.TooManyRequestsException"),
    ],
)
def test_a_task_crash_timeout_or_throttle_is_retried(
    hub: Hub, client: HubClient, error: str, step_error: str
) -> None:
    word = marker()
    hub.fault(operation="Invoke", function="PreprocessFunction", match=word, error=error, times=1)

    view = client.wait(
        client.submit({"pipeline": "preprocess", "input": {"text": f"text {word}"}}).body["request_id"]
    )

    assert view["status"] == "SUCCEEDED", step_error
    assert hub.calls("Invoke", word, target="PreprocessFunction") == 2


def test_a_task_that_keeps_crashing_ends_in_a_failed_event(hub: Hub, client: HubClient) -> None:
    word = marker()
    hub.fault(operation="Invoke", function="PreprocessFunction", match=word, error="Runtime.ExitError")

    view = client.wait(
        client.submit({"pipeline": "preprocess", "input": {"text": f"text {word}"}}).body["request_id"]
    )

    assert view["status"] == "FAILED"
    assert view["error"]["error"] == "Runtime.ExitError"
    assert hub.calls("Invoke", word, target="PreprocessFunction") == 3  # the first call and two retries


def test_a_document_with_nothing_in_it_fails_without_retries(hub: Hub, client: HubClient) -> None:
    before = hub.invocations("PreprocessFunction")

    view = client.wait(
        client.submit({"pipeline": "preprocess", "input": {"text": " \x00\x01 \t\n "}}).body["request_id"]
    )

    assert view["status"] == "FAILED"
    assert view["error"]["error"] == "EmptyDocument"
    assert hub.invocations("PreprocessFunction") - before == 1


def test_a_model_the_deployment_does_not_allow_is_refused_by_the_pipeline_too(
    hub: Hub, client: HubClient
) -> None:
    """Defence in depth: a request.accepted that bypassed the front door still cannot pick the model."""
    request_id = str(uuid.uuid4())
    hub.publish_accepted(
        client, request_id, "invoke", {"prompt": "hi", "model_id": "some.unapproved-model"}, "invoke"
    )

    view = client.wait(request_id)

    assert view["status"] == "FAILED"
    assert view["error"]["error"] == "InvalidModelRequest"
    assert hub.calls("Converse", request_id) == 0


def test_a_redelivered_trigger_message_starts_one_execution(hub: Hub, client: HubClient) -> None:
    reply = client.submit({"pipeline": "preprocess", "input": {"text": "redelivered"}})
    request_id = reply.body["request_id"]
    first = client.wait(request_id)
    assert first["status"] == "SUCCEEDED"
    assert history(first).count("preprocess.started") == 1

    # The same request.accepted again, as an at-least-once hub would deliver it.
    hub.publish_accepted(
        client, request_id, "preprocess", {"text": "redelivered", "chunk_tokens": 800}, "preprocess"
    )
    hub.quiet()  # the redelivered message has been taken, and done whatever it does

    executions = hub.aws("stepfunctions").list_executions(stateMachineArn=hub.ref("PreprocessPipeline"))[
        "executions"
    ]
    assert [execution["name"] for execution in executions].count(f"preprocess-{request_id}") == 1
    assert history(client.get(request_id).body).count("preprocess.started") == 1


def test_a_second_start_of_an_express_run_finds_its_claim_and_does_nothing(
    hub: Hub, client: HubClient
) -> None:
    """Express starts are at-least-once, and a trigger killed after StartExecution (before its
    idempotency record says so) starts the run again under a new name: that run ends at the claim."""
    reply = client.submit({"pipeline": "preprocess", "input": {"text": "claimed once"}})
    request_id = reply.body["request_id"]
    assert client.wait(request_id)["status"] == "SUCCEEDED"
    sfn = hub.aws("stepfunctions")
    first = sfn.describe_execution(
        executionArn=hub.ref("PreprocessPipeline").replace(":stateMachine:", ":execution:")
        + f":preprocess-{request_id}"
    )

    again = sfn.start_execution(
        stateMachineArn=hub.ref("PreprocessPipeline"), name=f"again-{request_id}", input=first["input"]
    )["executionArn"]

    def ended() -> str | None:
        status = str(sfn.describe_execution(executionArn=again)["status"])
        return status if status != "RUNNING" else None

    status = hub.wait_until(ended, "the second start's end", timeout=30)

    assert status == "SUCCEEDED"
    entered = [
        event["stateEnteredEventDetails"]["name"]
        for event in sfn.get_execution_history(executionArn=again)["events"]
        if "stateEnteredEventDetails" in event
    ]
    assert entered == ["Read the request", "Claim this run", "Another run has this request"]
    hub.quiet()  # whatever the second run set going has ended
    assert history(client.get(request_id).body) == [
        "request.accepted",
        "preprocess.started",
        "preprocess.completed",
    ]


def test_cancelling_an_invoke_request_ends_it_cancelled_and_its_late_answer_is_only_history(
    hub: Hub, client: HubClient
) -> None:
    word = marker()
    hub.fault(operation="Converse", match=word, delay_seconds=4, times=1)
    request_id = invoke(client, f"slow and unwanted {word}")
    client.wait(request_id, timeout=30, until=("RUNNING",))

    asked = client.post(f"/v1/requests/{request_id}/cancel")
    cancelled = client.wait(request_id)
    hub.wait_until(
        lambda: "invoke.completed" in history(client.get(request_id).body), "the late answer", timeout=30
    )
    later = client.get(request_id).body

    assert asked.status == 202
    assert cancelled["status"] == "CANCELLED"
    assert "invoke.cancelled" in history(cancelled)
    assert "invoke.completed" in history(later)
    assert later["status"] == "CANCELLED"
    assert later["result"] is None


def test_cancelling_a_chained_request_during_preprocess_starts_no_model_call(
    hub: Hub, client: HubClient
) -> None:
    word = marker()
    hub.fault(operation="Invoke", function="PreprocessFunction", match=word, delay_seconds=3, times=1)
    request_id = invoke(client, "Summarise", preprocess={"text": f"a document about {word}"})
    client.wait(request_id, timeout=30, until=("RUNNING",))

    assert client.post(f"/v1/requests/{request_id}/cancel").status == 202
    cancelled = client.wait(request_id)
    hub.wait_until(
        lambda: "preprocess.completed" in history(client.get(request_id).body),
        "preprocess.completed",
        timeout=30,
    )
    hub.quiet()  # the invoke trigger has seen preprocess.completed, and done whatever it does
    later = client.get(request_id).body

    assert cancelled["status"] == "CANCELLED"
    assert "preprocess.completed" in history(later)
    assert "invoke.started" not in history(later)
    assert hub.calls("Converse", word) == 0
