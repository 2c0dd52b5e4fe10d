"""The agent microservice's Lambdas and the tool registry, run from their sample events
(events/agent/) against the template's tables and hub (moto). The whole loop, tools included,
runs in tests/e2e/test_agents.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from agenthub.local.deploy import Stack
from contracts.catalog import RegisteredTool, ToolRegistry
from contracts.events import TOOL_REGISTERED, TOOL_WITHDRAWN
from contracts.tools import ToolSpec
from shared.hub import new_event
from tests.support.events import hub_delivery, load_event
from tests.support.faults import failing
from tests.support.moto_stack import FunctionRunner, client, drain, hub_messages

SUBJECT = "2f6b7a3e-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
REQUEST_ID = "7d6c5b4a-3e2f-4a1b-8c9d-0e1f2a3b4c5d"
T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
CALCULATOR = ToolSpec(
    name="calculator",
    description="Exact arithmetic.",
    input_schema={"type": "object", "properties": {"expression": {"type": "string"}}},
)
SEARCH = ToolSpec(name="search_documents", description="Search.", input_schema={"type": "object"})


def registry_event(spec: ToolSpec, *, withdrawn: bool = False, seconds: int = 0) -> Any:
    return new_event(
        event_type=TOOL_WITHDRAWN if withdrawn else TOOL_REGISTERED,
        request_id=f"tool-{spec.name}",
        pipeline="agent",
        source="tool-registrar",
        subject="tool-registry",
        sequence=str(seconds),
        payload={"spec": spec.model_dump(), "stack": f"stack/agent-hub-{spec.name}"},
        occurred_at=T0 + timedelta(seconds=seconds),
    )


def register(functions: FunctionRunner, *events: Any) -> None:
    response = functions.invoke("CoreWriterFunction", hub_delivery(*events))
    assert response == {"batchItemFailures": []}


def registry(stack: Stack) -> ToolRegistry:
    return ToolRegistry(stack.ref("CatalogTable"), client("dynamodb"))


@pytest.fixture
def hub_tap(stack: Stack) -> str:
    """A queue that receives everything published to the hub (as a subscriber would, unfiltered)."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="hub-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client("sns").subscribe(TopicArn=stack.ref("AgentCoreTopic"), Protocol="sqs", Endpoint=arn)
    return url


class _Answers(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_PUT(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def cloudformation() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A response URL on loopback, as CloudFormation presigns one, and the answers PUT to it."""
    handler = type("Answers", (_Answers,), {"received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/answer", handler.received
    server.shutdown()


# -- the registry --------------------------------------------------------------------------------


def test_the_registrar_announces_a_valid_tool_and_answers_cloudformation(
    stack: Stack, functions: FunctionRunner, hub_tap: str, cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    url, answers = cloudformation
    event = load_event("agent/registrar_create.json")
    event["ResponseURL"] = url

    functions.invoke("ToolRegistrarFunction", event)

    (answer,) = answers
    assert (answer["Status"], answer["PhysicalResourceId"]) == ("SUCCESS", "tool:calculator")
    assert answer["RequestId"] == event["RequestId"]
    (announced,) = hub_messages(drain(hub_tap))
    assert announced["event_type"] == TOOL_REGISTERED
    assert announced["payload"]["spec"]["name"] == "calculator"


def test_the_registrar_fails_the_tool_stack_on_a_spec_that_is_not_valid_naming_the_problem(
    stack: Stack, functions: FunctionRunner, hub_tap: str, cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    url, answers = cloudformation
    event = load_event("agent/registrar_create.json")
    event["ResponseURL"] = url
    event["ResourceProperties"]["Name"] = "calculator tool!"

    functions.invoke("ToolRegistrarFunction", event)

    (answer,) = answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("the tool spec is not valid")
    assert "name" in answer["Reason"]
    assert drain(hub_tap) == []


@pytest.mark.parametrize(
    ("code", "status", "advice"),
    [
        ("Throttled", 429, "deploy the tool stack again"),
        ("AuthorizationError", 403, "retrying will not mend"),
    ],
)
def test_the_registrar_tells_cloudformation_whether_deploying_again_can_help(
    stack: Stack,
    functions: FunctionRunner,
    hub_tap: str,
    cloudformation: tuple[str, list[dict[str, Any]]],
    code: str,
    status: int,
    advice: str,
) -> None:
    url, answers = cloudformation
    event = load_event("agent/registrar_create.json")
    event["ResponseURL"] = url
    functions.activate("ToolRegistrarFunction")
    from shared import aws

    with failing(aws.sns(), "Publish", code, status=status):
        functions.invoke("ToolRegistrarFunction", event)

    (answer,) = answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith(f"the hub could not be told: {code}")
    assert advice in answer["Reason"]
    assert stack.ref("AgentCoreTopic") not in answer["Reason"]
    assert drain(hub_tap) == []


def test_a_schema_given_as_json_text_is_registered_as_the_schema_it_writes(
    stack: Stack, functions: FunctionRunner, hub_tap: str, cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    """CloudFormation hands a custom resource its numbers and booleans as strings; a tool stack
    writes its schema as JSON text, which arrives whole."""
    url, answers = cloudformation
    event = load_event("agent/registrar_create.json")
    event["ResponseURL"] = url
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 10}},
    }
    event["ResourceProperties"]["InputSchema"] = json.dumps(schema)

    functions.invoke("ToolRegistrarFunction", event)

    assert [answer["Status"] for answer in answers] == ["SUCCESS"]
    (announced,) = hub_messages(drain(hub_tap))
    assert announced["payload"]["spec"]["input_schema"] == schema


def test_a_schema_given_as_text_that_is_not_json_fails_the_tool_stack_naming_it(
    stack: Stack, functions: FunctionRunner, hub_tap: str, cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    url, answers = cloudformation
    event = load_event("agent/registrar_create.json")
    event["ResponseURL"] = url
    event["ResourceProperties"]["InputSchema"] = '{"type": "object",'

    functions.invoke("ToolRegistrarFunction", event)

    (answer,) = answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("the tool spec is not valid: InputSchema is text but not JSON")
    assert drain(hub_tap) == []


def test_deleting_a_tool_whose_spec_never_registered_still_succeeds(
    stack: Stack, functions: FunctionRunner, cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    url, answers = cloudformation
    event = load_event("agent/registrar_create.json")
    event.update(RequestType="Delete", ResponseURL=url, PhysicalResourceId="tool:CalculatorTool")
    event["ResourceProperties"]["InputSchema"] = {"type": "array"}

    functions.invoke("ToolRegistrarFunction", event)

    assert [answer["Status"] for answer in answers] == ["SUCCESS"]


def test_the_core_writer_keeps_the_registry_and_a_withdrawal_is_a_tombstone(
    stack: Stack, functions: FunctionRunner
) -> None:
    register(functions, registry_event(CALCULATOR), registry_event(SEARCH))
    assert set(registry(stack).available()) == {"calculator", "search_documents"}

    register(functions, registry_event(CALCULATOR, withdrawn=True, seconds=5))
    # A registration older than the withdrawal (a delayed redelivery) cannot bring the tool back.
    register(functions, registry_event(CALCULATOR, seconds=2))

    assert set(registry(stack).available()) == {"search_documents"}
    item = client("dynamodb").get_item(
        TableName=stack.ref("CatalogTable"), Key={"pk": {"S": "TOOLS"}, "sk": {"S": "calculator"}}
    )["Item"]
    assert RegisteredTool.model_validate_json(item["body"]["S"]).withdrawn


# -- a run -----------------------------------------------------------------------------------------


def test_preparing_a_run_offers_the_requested_tools_that_are_registered(
    stack: Stack, functions: FunctionRunner
) -> None:
    register(functions, registry_event(CALCULATOR))  # search_documents was asked for, but is not there

    run = functions.invoke("PrepareAgentRunFunction", load_event("agent/prepare_run_task.json"))

    assert [tool["ToolSpec"]["Name"] for tool in run["tool_config"]["Tools"]] == ["calculator"]
    assert run["messages"][-1] == {
        "Role": "user",
        "Content": [{"Text": "Search my notes for 'battery' and multiply the hours by 60."}],
    }
    assert (run["turn"], run["max_turns"], run["request"]["subject"]) == (0, 6, SUBJECT)
    assert run["deadline_ms"] > 0


@pytest.mark.parametrize(("asked", "granted"), [(None, 600), (30, 30), (2700, 600)])
def test_a_run_takes_the_time_it_asks_for_but_never_more_than_the_stack_allows(
    stack: Stack, functions: FunctionRunner, asked: int | None, granted: int
) -> None:
    assert functions.environment("PrepareAgentRunFunction")["AGENT_TIME_BUDGET_SECONDS"] == "600"
    event = load_event("agent/prepare_run_task.json")
    if asked is not None:
        event["event"]["payload"]["input"]["time_budget_seconds"] = asked

    before = time.time()
    run = functions.invoke("PrepareAgentRunFunction", event)

    assert (
        int(before * 1000) + granted * 1000 <= run["deadline_ms"] <= int(time.time() * 1000) + granted * 1000
    )


def test_preparing_a_run_refuses_a_model_that_is_not_allowed(stack: Stack, functions: FunctionRunner) -> None:
    event = load_event("agent/prepare_run_task.json")
    event["event"]["payload"]["input"]["model_id"] = "anthropic.claude-v2"

    with pytest.raises(ValueError, match=r"'anthropic\.claude-v2' is not one of the allowed models"):
        functions.invoke("PrepareAgentRunFunction", event)


def test_asking_a_tool_keeps_the_token_and_publishes_the_call_for_that_tool_only(
    stack: Stack, functions: FunctionRunner, hub_tap: str
) -> None:
    register(functions, registry_event(CALCULATOR))

    functions.invoke("RequestToolFunction", load_event("agent/request_tool_task.json"))

    (published,) = drain(hub_tap)
    notification = json.loads(published["Body"])
    assert notification["MessageAttributes"]["tool"]["Value"] == "calculator"
    (call,) = hub_messages([published])
    assert call["event_type"] == "tool.requested"
    assert call["subject"] == SUBJECT
    assert call["payload"] == {
        "call_id": f"{REQUEST_ID}#tooluse_01",
        "tool": "calculator",
        "input": {"expression": "12 * 60"},
    }
    item = client("dynamodb").get_item(
        TableName=stack.ref("AgentRunsTable"), Key={"id": {"S": f"call#{REQUEST_ID}#tooluse_01"}}
    )["Item"]
    assert item["token"]["S"] == "AQCEAAAAKgAAAAMAAAAAAAAAAEXAMPLE-task-token"


def test_asking_a_tool_that_is_not_registered_fails_the_task_and_publishes_nothing(
    stack: Stack, functions: FunctionRunner, hub_tap: str
) -> None:
    with pytest.raises(ValueError, match="'calculator' is not registered"):
        functions.invoke("RequestToolFunction", load_event("agent/request_tool_task.json"))

    assert drain(hub_tap) == []


def test_an_answer_no_run_waits_for_is_dropped_without_failing_the_batch(
    stack: Stack, functions: FunctionRunner
) -> None:
    response = functions.invoke("AgentRelayFunction", load_event("agent/relay_tool_answers.json"))

    assert response == {"batchItemFailures": []}


def test_an_answer_whose_run_stopped_waiting_is_late_and_resumes_nothing(
    stack: Stack, functions: FunctionRunner
) -> None:
    register(functions, registry_event(CALCULATOR))
    functions.invoke("RequestToolFunction", load_event("agent/request_tool_task.json"))  # keeps a token

    # No execution holds the sample's token any more: Step Functions says so, the relay shrugs.
    response = functions.invoke("AgentRelayFunction", load_event("agent/relay_tool_answers.json"))

    assert response == {"batchItemFailures": []}


def test_cancelling_a_run_that_never_started_marks_it_and_says_so(
    stack: Stack, functions: FunctionRunner, hub_tap: str
) -> None:
    response = functions.invoke("AgentCancelFunction", load_event("agent/cancel_requests.json"))

    assert response == {"batchItemFailures": []}
    (cancelled,) = hub_messages(drain(hub_tap))
    assert cancelled["event_type"] == "agent.cancelled"
    assert cancelled["payload"] == {"stopped_a_running_agent": False}


def test_a_turn_folds_the_tool_answers_into_the_conversation(stack: Stack, functions: FunctionRunner) -> None:
    run = functions.invoke("AgentTurnsFunction", load_event("agent/turns_fold.json"))

    *_, asked, answered = run["messages"]
    assert asked["Role"] == "assistant"
    assert "ToolUse" in asked["Content"][1]
    assert answered["Content"][0]["ToolResult"]["Content"] == [{"Text": "12 * 60 = 720"}]
    assert [(call["tool"], call["outcome"]) for call in run["transcript"]] == [("calculator", "success")]


def test_the_last_turn_makes_the_requests_result(stack: Stack, functions: FunctionRunner) -> None:
    result = functions.invoke("AgentTurnsFunction", load_event("agent/turns_finish.json"))

    assert result["output_text"] == "12 hours is 720 minutes."
    assert (result["stop_reason"], result["turns"], result["model_id"]) == (
        "end_turn",
        2,
        "amazon.nova-lite-v1:0",
    )
    assert result["usage"] == {"input_tokens": 180, "output_tokens": 12, "total_tokens": 192}
