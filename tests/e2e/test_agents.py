"""Agents that act through tools that are stacks of their own, over the hub (docs/reliability.md #25-30).

The session's local cloud runs the hub stack and every stack under tools/ (calculator,
search_documents), with the local model's deterministic tool use (agenthub/local/tool_use.py).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from agenthub.client import HubClient
from shared.naming import execution_name
from tests.e2e.conftest import Hub, subject_of

CALCULATOR_STACK = "agent-hub-calculator"


def agent(client: HubClient, prompt: str, **extra: Any) -> dict[str, Any]:
    """Submits an agent request and waits for its end; the request's view."""
    accepted = client.submit({"pipeline": "agent", "input": {"prompt": prompt, **extra}})
    assert accepted.status == 202, accepted.body
    return client.wait(accepted.body["request_id"], timeout=90)


def preprocess(client: HubClient, text: str) -> str:
    accepted = client.submit({"pipeline": "preprocess", "input": {"text": text}})
    assert accepted.status == 202, accepted.body
    assert client.wait(accepted.body["request_id"])["status"] == "SUCCEEDED"
    return str(accepted.body["request_id"])


def tools_called(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [(call["tool"], call["outcome"]) for call in view["result"]["transcript"]]


def function_name(hub: Hub, stack: str, logical_id: str) -> str:
    return hub.cloud.stacks[stack].functions[logical_id].name


def test_an_agent_searches_its_callers_document_then_computes_with_what_it_found(hub: Hub) -> None:
    client = hub.client("agent-ada")
    document = preprocess(client, "Field notes.\n\nThe battery lasts 12 hours on one charge.")

    view = agent(client, "Search my notes for 'battery' and multiply by 60.")

    assert view["status"] == "SUCCEEDED"
    result = view["result"]
    assert tools_called(view) == [("search_documents", "success"), ("calculator", "success")]
    assert document in result["transcript"][0]["answer"]
    assert result["transcript"][1]["answer"] == "12 * 60 = 720"
    assert "720" in result["output_text"]
    assert result["stop_reason"] == "end_turn"
    assert result["turns"] == 3
    assert result["usage"]["total_tokens"] > 0
    assert [entry["event_type"] for entry in view["history"]].count("agent.progress") == 2
    assert view["progress"]["tool_calls"] == 2


def test_two_tools_in_one_turn_run_together(hub: Hub) -> None:
    client = hub.client("agent-two")
    preprocess(client, "The pump moves 40 litres a minute.")

    view = agent(client, "Search for 'pump' and work out (2 + 3) * 4.")

    assert view["status"] == "SUCCEEDED"
    assert sorted(tools_called(view)) == [("calculator", "success"), ("search_documents", "success")]
    assert {call["turn"] for call in view["result"]["transcript"]} == {1}
    assert view["result"]["turns"] == 2


def test_a_tool_that_answers_an_error_is_told_to_the_model_and_the_run_goes_on(hub: Hub) -> None:
    view = agent(hub.client("agent-divide"), "What is 1 / 0?", tools=["calculator"])

    assert view["status"] == "SUCCEEDED"
    assert tools_called(view) == [("calculator", "error")]
    assert "division by zero" in view["result"]["transcript"][0]["answer"]
    assert "calculator failed" in view["result"]["output_text"]


def test_a_tool_that_never_answers_times_out_and_the_model_is_told(hub: Hub) -> None:
    """The calculator's function crashes on every delivery (its call ends in its DLQ): the run's
    wait times out (ToolAnswerTimeoutSeconds, 12 s locally) and the model gets an error result."""
    marker = str(uuid.uuid4().int)[:6]
    hub.fault(
        operation="Invoke",
        function=function_name(hub, CALCULATOR_STACK, "CalculatorFunction"),
        match=f"7{marker}",
        error="Runtime.ExitError",
    )

    view = agent(hub.client("agent-silent"), f"Compute 7{marker} * 2, please.", tools=["calculator"])

    assert view["status"] == "SUCCEEDED"
    (call,) = view["result"]["transcript"]
    assert call["outcome"] == "error"
    assert "did not answer within 12 seconds" in call["answer"]


def test_the_same_answer_delivered_twice_resumes_nothing_twice(hub: Hub) -> None:
    client = hub.client("agent-twice")
    view = agent(client, "Please compute 6 * 7.", tools=["calculator"])
    assert view["status"] == "SUCCEEDED"
    runs = hub.aws("dynamodb").scan(TableName=hub.ref("AgentRunsTable"))["Items"]
    (call,) = [item for item in runs if item["id"]["S"].startswith(f"call#{view['request_id']}#")]
    relayed_before = hub.invocations("AgentRelayFunction")

    from shared.hub import HubPublisher, new_event

    again = new_event(
        event_type="tool.completed",
        request_id=view["request_id"],
        pipeline="agent",
        source="tool:calculator",
        subject=subject_of(client),
        tool="calculator",
        sequence=call["id"]["S"][len("call#") :],
        payload={
            "call_id": call["id"]["S"][len("call#") :],
            "tool": "calculator",
            "status": "success",
            "text": "6 * 7 = 43",
        },
    )
    HubPublisher(hub.ref("AgentCoreTopic"), hub.ref("DataLakeBucket"), hub.aws("sns"), hub.aws("s3")).publish(
        again
    )
    hub.wait_until(
        lambda: hub.invocations("AgentRelayFunction") > relayed_before, "the relay taking the answer", 30
    )
    hub.quiet()  # whatever the relay did with it has been done

    assert hub.invocations("AgentRelayFunction") > relayed_before
    after = client.get(view["request_id"]).body
    assert after["result"] == view["result"]  # "6 * 7 = 42" once, never 43
    dead_letters = hub.aws("sqs").get_queue_attributes(
        QueueUrl=hub.ref("AgentToolAnswersSubscriber.DeadLetterQueue"),
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    assert dead_letters["ApproximateNumberOfMessages"] == "0"


def test_an_agent_that_keeps_asking_for_tools_ends_at_its_turn_limit(hub: Hub) -> None:
    client = hub.client("agent-loop")
    preprocess(client, "Notes on looping.")

    view = agent(client, "Search for 'looping' again and again.", tools=["search_documents"], max_turns=3)

    assert view["status"] == "SUCCEEDED"
    assert view["result"]["stop_reason"] == "max_turns"
    assert view["result"]["turns"] == 3
    assert len(view["result"]["transcript"]) == 2  # the third model call asked again; the run stopped


@pytest.mark.timeout(240)
def test_an_agent_whose_tools_keep_it_waiting_ends_at_its_time_budget(hub: Hub) -> None:
    """Every search crashes, so each turn waits ToolAnswerTimeoutSeconds (12 s locally) for it:
    the run ends once the 60 s it asked for are spent, long before max_turns (the stack allows 300
    locally, so that long runs on a busy machine finish)."""
    word = f"slow{uuid.uuid4().hex[:6]}"
    hub.fault(
        operation="Invoke",
        function=function_name(hub, "agent-hub-search-documents", "SearchDocumentsFunction"),
        match=word,
        error="Runtime.ExitError",
    )
    client = hub.client("agent-budget")
    accepted = client.submit(
        {
            "pipeline": "agent",
            "input": {
                "prompt": f"Search for '{word}' again and again.",
                "tools": ["search_documents"],
                "max_turns": 20,
                "time_budget_seconds": 60,
            },
        }
    )
    view = client.wait(accepted.body["request_id"], timeout=180)

    assert view["status"] == "SUCCEEDED"
    assert view["result"]["stop_reason"] == "time_budget"
    assert 4 <= view["result"]["turns"] < 20
    assert {call["outcome"] for call in view["result"]["transcript"]} == {"error"}


def test_cancelling_a_running_agent_stops_it_and_abandons_its_pending_call(hub: Hub) -> None:
    marker = str(uuid.uuid4().int)[:6]
    hub.fault(
        operation="Invoke",
        function=function_name(hub, CALCULATOR_STACK, "CalculatorFunction"),
        match=f"9{marker}",
        error="Runtime.ExitError",
    )
    client = hub.client("agent-cancel")
    accepted = client.submit(
        {"pipeline": "agent", "input": {"prompt": f"Compute 9{marker} + 1.", "tools": ["calculator"]}}
    )
    request_id = accepted.body["request_id"]
    client.wait(request_id, until=("RUNNING",), timeout=30)
    # The calculator was asked (and crashed): the run waits for its answer now.
    hub.wait_until(
        lambda: hub.calls(
            "Invoke", f"9{marker}", target=function_name(hub, CALCULATOR_STACK, "CalculatorFunction")
        ),
        "the calculator being asked",
        timeout=30,
    )

    assert client.post(f"/v1/requests/{request_id}/cancel").status == 202
    view = client.wait(request_id, timeout=30)

    assert view["status"] == "CANCELLED"
    executions = hub.ref("AgentRun").replace(":stateMachine:", ":execution:")
    execution_arn = f"{executions}:{execution_name(request_id, 'agent')}"
    # AWS aborts at once; the emulator's waiting task notices the stop only when its wait for the
    # tool's answer times out (ToolAnswerTimeoutSeconds, 12 s locally), so wait past that.

    def ended() -> str | None:
        status = str(hub.aws("stepfunctions").describe_execution(executionArn=execution_arn)["status"])
        return status if status != "RUNNING" else None

    status = hub.wait_until(ended, "the cancelled run's end", timeout=30)
    assert status == "ABORTED"
    assert "agent.completed" not in [entry["event_type"] for entry in view["history"]]


def test_an_unknown_tool_is_400_listing_the_registered_ones(hub: Hub) -> None:
    reply = hub.client("agent-unknown").submit(
        {"pipeline": "agent", "input": {"prompt": "hi", "tools": ["calculator", "teleporter"]}}
    )

    assert reply.status == 400
    (problem,) = reply.body["errors"]
    assert problem["field"] == "input.tools"
    assert problem["problem"] == "not registered: teleporter; registered: calculator, search_documents"


def test_a_tool_stack_deleted_while_the_hub_runs_is_no_longer_offered(hub: Hub) -> None:
    client = hub.client("agent-withdrawn")
    template = hub.cloud.config.tools_dir / "calculator" / "template.yaml"  # type: ignore[operator]
    hub.cloud.delete_stack(CALCULATOR_STACK)
    try:
        hub.wait_until(
            lambda: "calculator" not in hub.cloud.registered_tools(), "the calculator's withdrawal", 30
        )
        listed = [tool["name"] for tool in client.fetch("/v1/tools").body["tools"]]
        assert listed == ["search_documents"]
        refused = client.submit({"pipeline": "agent", "input": {"prompt": "2 + 2?", "tools": ["calculator"]}})
        assert refused.status == 400

        view = agent(client, "What is 2 + 2?")

        assert view["status"] == "SUCCEEDED"
        assert view["result"]["transcript"] == []  # nothing offered the model a calculator
    finally:
        hub.cloud.deploy_stack(template)
        hub.wait_until(
            lambda: "calculator" in hub.cloud.registered_tools(), "the calculator's registration", 30
        )
    assert "calculator" in hub.cloud.registered_tools()


def test_one_callers_search_never_sees_another_callers_documents(hub: Hub) -> None:
    owner, stranger = hub.client("agent-owner"), hub.client("agent-stranger")
    word = f"zebra{uuid.uuid4().hex[:6]}"
    preprocess(owner, f"A private note about the {word} project.")

    theirs = agent(stranger, f"Search my notes for '{word}'.", tools=["search_documents"])
    mine = agent(owner, f"Search my notes for '{word}'.", tools=["search_documents"])

    (their_search,) = theirs["result"]["transcript"]
    assert (
        their_search["answer"]
        == f"No passage of your documents matches {word!r}. Preprocess a document first to search it."
    )
    assert "private note" not in json.dumps(theirs["result"])
    (my_search,) = mine["result"]["transcript"]
    assert f"A private note about the {word} project." in my_search["answer"]


@pytest.mark.timeout(240)
def test_a_long_conversation_stays_within_the_state_limit(hub: Hub) -> None:
    """Twenty turns of long search answers (five 1,500-character passages each) would outgrow the
    run's state: it drops its oldest tool exchanges and keeps going (Step Functions allows 256 KiB)."""
    client = hub.client("agent-long")
    filler = " ".join(f"walrus{n} tusk {n}" for n in range(2_500))  # a ~40 KB document
    preprocess(client, filler)

    view = agent(
        client, "Search for 'walrus tusk' again and again.", tools=["search_documents"], max_turns=20
    )

    assert view["status"] == "SUCCEEDED", view.get("error")
    assert view["result"] is None  # too big for the catalog row: the view links to it in the lake
    result = client.result(view)
    assert result["stop_reason"] == "max_turns"
    assert result["turns"] == 20
    assert result["dropped_turns"] > 0
