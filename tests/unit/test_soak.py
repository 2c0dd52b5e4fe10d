"""The soak's plan and its ledger's arithmetic, without a local cloud (tests/e2e/test_soak.py runs one)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from pydantic import TypeAdapter

from agenthub import PROJECT_ROOT
from agenthub.local.tool_use import tool_reply
from agenthub.soak.ledger import Accepted, Final, Observed, percentile, report
from agenthub.soak.plan import (
    AGENT_CONVERSE_RETRIES,
    AGENT_TOOLS,
    CONVERSE_RETRIES,
    FAULTS,
    MAX_RECEIVE_COUNT,
    PIPELINES,
    REQUEST_TOOL,
    TASK_RETRIES,
    TOOL_ANSWER_TIMEOUT_SECONDS,
    Caller,
    Expect,
    plan_requests,
    tool_aim,
)
from agenthub.soak.runner import SoakSettings, _subscriber_of, _tool_calls
from contracts.requests import AnyRequest, SubmitRequest

CALLERS = [Caller("ada", dataset_id="ds-ada"), Caller("bob", dataset_id="ds-bob")]


def test_the_plan_is_a_function_of_the_seed() -> None:
    assert plan_requests(50, 0.3, 7, CALLERS) == plan_requests(50, 0.3, 7, CALLERS)
    assert plan_requests(50, 0.3, 7, CALLERS) != plan_requests(50, 0.3, 8, CALLERS)


def test_every_pipeline_sends_a_request_the_front_door_accepts() -> None:
    """A new pipeline entry whose body the request contract refuses would only ever be refused."""
    submit: TypeAdapter[AnyRequest] = TypeAdapter(SubmitRequest)
    planned = plan_requests(400, 0.5, 3, CALLERS)

    assert {request.pipeline for request in planned} == {pipeline.name for pipeline in PIPELINES}
    for request in planned:
        submit.validate_python(request.body)


def test_each_fault_is_aimed_at_its_own_request_only() -> None:
    planned = plan_requests(2000, 0.5, 5, CALLERS)
    markers = [request.marker for request in planned]

    assert len(set(markers)) == len(markers)
    assert not any(a in b for a in markers[:200] for b in markers[:200] if a != b)  # none inside another
    assert {request.fault.kind for request in planned if request.fault} == {kind.name for kind in FAULTS}
    aims = [tool_aim(marker) for marker in markers]
    assert len(set(aims)) == len(aims)
    assert not any(a in b for a in aims[:200] for b in aims[:200] if a != b)
    for request in planned:
        if request.fault is None:
            continue
        if request.fault.rule is not None:
            # A tool's arguments are the model's: a rule on a tool aims at the number they carry.
            aim = tool_aim(request.marker) if request.fault.kind.startswith("tool_") else request.marker
            assert request.fault.rule["match"] == aim
            assert aim in json.dumps(request.body)
        # A faulted request stays out of session memory, where later requests would carry its marker.
        assert "session_id" not in request.body["input"]


def test_a_fault_past_the_retries_is_planned_to_fail_or_dead_letter() -> None:
    planned = [
        request for request in plan_requests(3000, 1.0, 9, CALLERS) if request.fault and request.fault.rule
    ]
    expectations = Counter((request.fault.kind, request.expect) for request in planned if request.fault)

    assert expectations[("task_crash", Expect.FAILED)] > 0
    assert expectations[("bedrock_throttling", Expect.FAILED)] > 0
    assert expectations[("trigger_crash", Expect.DEAD_LETTERED)] > 0
    assert expectations[("core_writer_failure", Expect.DEAD_LETTERED)] == 0
    for request in planned:
        assert request.fault is not None
        assert request.fault.rule is not None
        if request.expect is Expect.SUCCEEDED:
            assert request.fault.rule["times"] <= 4


def first_turn(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool calls the local model makes on the first turn of this agent request."""
    request = body["input"]
    converse = {
        "messages": [{"role": "user", "content": [{"text": request["prompt"]}]}],
        "toolConfig": {"tools": [{"toolSpec": {"name": name}} for name in request["tools"]]},
    }
    reply = tool_reply(converse)
    assert reply is not None
    blocks, stop_reason = reply
    assert stop_reason == "tool_use", blocks
    return [block["toolUse"] for block in blocks if "toolUse" in block]


def test_an_agent_request_asks_each_tool_it_names_once_with_its_own_aim() -> None:
    """The local model calls exactly the tools the body names, in its first turn, and each call's
    arguments carry the request's aim: a fault rule on that tool's function strikes that call."""
    agents = [request for request in plan_requests(600, 0.3, 11, CALLERS) if request.pipeline == "agent"]

    assert agents
    asked: Counter[tuple[str, ...]] = Counter()
    for request in agents:
        calls = first_turn(request.body)
        assert sorted(call["name"] for call in calls) == sorted(request.body["input"]["tools"])
        for call in calls:
            assert tool_aim(request.marker) in json.dumps(call["input"])
            assert request.marker not in json.dumps(call["input"])
        asked[tuple(sorted(request.body["input"]["tools"]))] += 1
    assert set(asked) == {("calculator",), ("search_documents",), ("calculator", "search_documents")}
    assert any("/ 0" in request.body["input"]["prompt"] for request in agents)  # a tool answers an error
    assert any("session_id" in request.body["input"] for request in agents)  # memory, for agents too


def test_agents_get_a_fifth_of_the_requests() -> None:
    mix = Counter(request.pipeline for request in plan_requests(5000, 0.1, 2, CALLERS))

    assert 0.17 < mix["agent"] / 5000 < 0.23


def test_a_tool_fault_aims_at_a_tool_the_request_asks_and_never_fails_the_request() -> None:
    planned = [
        request
        for request in plan_requests(4000, 1.0, 13, CALLERS)
        if request.fault and request.fault.kind in ("tool_crash", "tool_timeout")
    ]
    functions = dict(AGENT_TOOLS)
    delays: list[float] = []

    assert {request.fault.kind for request in planned if request.fault} == {"tool_crash", "tool_timeout"}
    for request in planned:
        fault = request.fault
        assert fault is not None
        assert fault.rule is not None
        assert request.pipeline == "agent"
        assert fault.function in {functions[tool] for tool in request.body["input"]["tools"]}
        assert fault.rule["operation"] == "Invoke"
        assert request.expect is Expect.SUCCEEDED  # the model is told; the run goes on
        if fault.kind == "tool_crash":
            assert 1 <= fault.rule["times"] <= MAX_RECEIVE_COUNT
            assert not (fault.rule["after_effect"] and fault.rule["times"] == MAX_RECEIVE_COUNT)
        else:
            assert fault.rule["times"] == 1
            assert "error" not in fault.rule
            delays.append(fault.rule["delay_seconds"])
    # Too late or in time, never on the edge; too late still answers before the call comes back.
    assert any(delay > TOOL_ANSWER_TIMEOUT_SECONDS for delay in delays)
    assert any(delay < TOOL_ANSWER_TIMEOUT_SECONDS for delay in delays)
    for delay in delays:
        assert abs(delay - TOOL_ANSWER_TIMEOUT_SECONDS) >= 1
        assert delay < SoakSettings(requests=1, fault_rate=0).subscriber_timeout
    assert SoakSettings(requests=1, fault_rate=0).overrides()["ToolAnswerTimeoutSeconds"] == str(
        TOOL_ANSWER_TIMEOUT_SECONDS
    )


def test_about_two_in_five_faulted_agent_requests_meet_a_tools_fault() -> None:
    """The faults only agents meet are likelier for them than each kind every pipeline meets."""
    faulted = [
        request.fault
        for request in plan_requests(6000, 1.0, 23, CALLERS)
        if request.pipeline == "agent" and request.fault
    ]
    tools = sum(fault.kind in ("tool_crash", "tool_timeout") for fault in faulted)

    assert 0.33 < tools / len(faulted) < 0.47


def test_a_fault_on_the_tool_requests_of_a_turn_past_the_retries_outlasts_every_call() -> None:
    """The calls of one turn run at once, each with its own retries: past them means more failures
    than all of them could absorb."""
    planned = [
        request
        for request in plan_requests(6000, 1.0, 17, CALLERS)
        if request.fault and request.fault.function == REQUEST_TOOL
    ]

    assert {len(request.body["input"]["tools"]) for request in planned} == {1, 2}
    for request in planned:
        assert request.fault is not None
        assert request.fault.rule is not None
        calls = len(request.body["input"]["tools"])
        if request.expect is Expect.FAILED:
            assert request.fault.rule["times"] == TASK_RETRIES * calls + 1
        else:
            assert request.fault.rule["times"] <= TASK_RETRIES


def retries(definition: str, state: str) -> int:
    machine = json.loads((PROJECT_ROOT / "statemachines" / definition).read_text())
    states = dict(machine["States"])
    for found in machine["States"].values():
        states.update(found.get("ItemProcessor", {}).get("States", {}))
    return int(max(rule["MaxAttempts"] for rule in states[state]["Retry"]))


def test_the_plans_retry_counts_are_the_state_machines() -> None:
    assert retries("agent_run.asl.json", "Ask the model") == AGENT_CONVERSE_RETRIES
    assert retries("invoke_model.asl.json", "Ask the model") == CONVERSE_RETRIES
    for state in ("Prepare the run", "Take the answers", "Finish the run", "Ask the tool through the hub"):
        assert retries("agent_run.asl.json", state) == TASK_RETRIES


def test_an_agent_fault_past_the_models_retries_strikes_once_more_than_they_allow() -> None:
    planned = [
        request
        for request in plan_requests(4000, 1.0, 19, CALLERS)
        if request.pipeline == "agent" and request.fault and request.fault.kind.startswith("bedrock_")
    ]

    assert {request.expect for request in planned} == {Expect.SUCCEEDED, Expect.FAILED}
    for request in planned:
        assert request.fault is not None
        assert request.fault.rule is not None
        assert request.fault.rule["operation"] == "Converse"
        past = request.expect is Expect.FAILED
        assert (request.fault.rule["times"] > AGENT_CONVERSE_RETRIES) is past


def test_the_queue_names_say_whose_subscriber_they_are() -> None:
    url = "http://127.0.0.1:1/123456789012/"
    assert _subscriber_of(url + "agent-hub-PreprocessSubscriber-89130CF72FC1-Queue-DFE8784980E5") == (
        "PreprocessSubscriber"
    )
    name = "agent-hub-search-documents-SearchDocumentsSubscriber-63336CAC001E-Q-C72A735F357F"
    assert _subscriber_of(url + name) == "SearchDocumentsSubscriber"


def test_an_agents_tool_calls_are_counted_by_how_they_ended() -> None:
    transcript = [
        {"tool": "calculator", "outcome": "success", "answer": "2 * 3 = 6"},
        {"tool": "calculator", "outcome": "error", "answer": "cannot compute '1 / 0': division by zero"},
        {
            "tool": "search_documents",
            "outcome": "error",
            "answer": "The tool did not answer within 12 seconds.",
        },
    ]
    body = {"result": {"inline": json.dumps({"transcript": transcript})}}

    assert _tool_calls(body) == Counter(
        {"calculator: answered": 1, "calculator: error": 1, "search_documents: timed out": 1}
    )
    assert _tool_calls({"result": {"ref": "s3://lake/results/r0.json"}}) == Counter()


def accepted(index: int, expect: Expect = Expect.SUCCEEDED, ids: set[str] | None = None) -> Accepted:
    base = plan_requests(index + 1, 0.0, 1, CALLERS)[index]
    planned = type(base)(**{**vars(base), "expect": expect})
    return Accepted(planned, f"r{index}", "sub", 100.0, request_ids=ids or {f"r{index}"})


def observed(finals: dict[str, Final], **changes: object) -> Observed:
    fields: dict[str, object] = {
        "finals": finals,
        "catalog_rows": Counter({f"soak1-{i:06d}q": 1 for i in range(10)}),
        "memory_turns": Counter(),
        "express_runs": Counter({"PreprocessPipeline:r0": 1}),
        "dead_lettered": set(),
        "dlq_messages": 0,
        "dead_letters": Counter(),
        "faults_injected": {},
        **changes,
    }
    return Observed(**fields)  # type: ignore[arg-type]


def test_the_report_tells_lost_from_dead_lettered_and_expected_from_unexpected_failures() -> None:
    entries = [
        accepted(0),
        accepted(1, Expect.FAILED),
        accepted(2),
        accepted(3),
        accepted(4, Expect.DEAD_LETTERED),
        accepted(5, Expect.CANCELLED),
    ]
    finals = {
        "r0": Final("SUCCEEDED", 101.0),
        "r1": Final("FAILED", 103.0),
        "r2": Final("FAILED", 104.0),
        "r3": Final("RUNNING", None),
        "r4": Final("FAILED", 105.0),  # dead-lettered, then failed by the sweeper
        "r5": Final("CANCELLED", 102.0),
    }

    result = report(entries, observed(finals, dead_lettered={"r4"}), wall_seconds=9.0, refused=0, settings={})

    assert result["accepted"] == 6
    assert (result["succeeded"], result["failed_expected"], result["failed_unexpected"]) == (1, 2, 1)
    assert (result["lost"], result["dead_lettered"], result["cancelled"]) == (1, 1, 1)
    assert result["ok"] is False
    assert (result["p50"], result["p95"]) == (3.0, 5.0)


@pytest.mark.parametrize(
    ("changes", "measure"),
    [
        ({"express_runs": Counter({"InvokeModelPipeline:r0": 2})}, "duplicate_executions"),
        ({"standard_runs": Counter({"AgentRun:r0": 2})}, "duplicate_executions"),
        ({"catalog_rows": Counter({"soak1-000000q": 2})}, "duplicate_catalog_rows"),
        ({"catalog_rows": Counter({"": 1})}, "duplicate_catalog_rows"),
        ({"memory_turns": Counter({"r0": 2})}, "duplicate_memory_turns"),
    ],
)
def test_anything_done_twice_fails_the_soak(changes: dict[str, object], measure: str) -> None:
    result = report([accepted(0)], observed({"r0": Final("SUCCEEDED", 101.0)}, **changes),
                    wall_seconds=1.0, refused=0, settings={})  # fmt: skip

    assert result[measure] == 1
    assert result["ok"] is False


def test_two_request_ids_for_one_key_is_a_duplicate_acceptance() -> None:
    result = report([accepted(0, ids={"r0", "r9"})], observed({"r0": Final("SUCCEEDED", 101.0)}),
                    wall_seconds=1.0, refused=0, settings={})  # fmt: skip

    assert result["duplicate_acceptances"] == 1
    assert result["ok"] is False


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0


def test_a_dead_lettered_request_still_open_after_the_sweep_is_lost() -> None:
    entries = [accepted(0, Expect.DEAD_LETTERED)]

    result = report(
        entries, observed({"r0": Final("RUNNING", None)}, dead_lettered={"r0"}),
        wall_seconds=1.0, refused=0, settings={},
    )  # fmt: skip

    assert (result["lost"], result["dead_lettered"]) == (1, 1)
    assert result["ok"] is False
