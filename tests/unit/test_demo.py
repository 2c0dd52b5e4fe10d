"""`agenthub demo`'s rows: `ok` only when the request did what its row promises."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agenthub.demo import SCENARIOS, Outcome, Scenario, report

TIMEOUT = "The tool did not answer within 12 seconds."


def answer(**result: Any) -> dict[str, Any]:
    return {
        "status": "SUCCEEDED",
        "result": {"output_text": "[local model] an answer", "stop_reason": "end_turn", **result},
    }


def call(tool: str, outcome: str = "success", text: str = "an answer") -> dict[str, Any]:
    return {"turn": 1, "tool": tool, "input": "{}", "outcome": outcome, "answer": text, "duration_ms": 3}


CHUNKED = {"status": "SUCCEEDED", "result": {"chunks": [{"index": 0}], "stats": {"chunks": 1}}}
TRAINED = {"model": {"name": "m", "arn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/m/1"}}
# What each row's request gives back when it does what the row says (trimmed from a demo run).
DONE: dict[str, dict[str, Any]] = {
    "preprocess a document": CHUNKED,
    "invoke the model (session ada-notes)": answer(history_turns=0),
    "invoke again in the same session": answer(history_turns=1),
    "chained: preprocess, then invoke": answer(document={"chunks": 1, "characters": 183}),
    "preprocess field notes": CHUNKED,
    "an agent searches the notes, computes": answer(
        transcript=[call("search_documents"), call("calculator", text="12 * 60 = 720")]
    ),
    "an agent whose tool answers an error": answer(
        transcript=[call("calculator", "error", "cannot compute '7 / 0': division by zero")]
    ),
    "the first request again (same key)": {"history": [{"event_type": "request.accepted"}]},
    "an invalid request": {"errors": [{"field": "input.prompt"}, {"field": "input.inference.temperature"}]},
    "customize Nova 2 Lite (RFT), a dry run": {
        "result": {"dry_run": True, "started": False, "would_start": {"api_call": "bedrock:X"}}
    },
    "customize Nova Lite (SFT, LoRA), deployed": {
        "result": {"model": {**TRAINED["model"], "deployment_arn": "arn:...:custom-model-deployment/1"}}
    },
    "invoke the customized model": answer(
        model_id="arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/21b52292384c"
    ),
    "customize Nova Lite (DPO, LoRA)": {"result": {"model": {"artifacts_uri": "s3://lake/model.tar.gz"}}},
    "customize with an invalid dataset": {
        "error": {"error": "InvalidDataset", "report": [{"role": "training", "errors": [{"line": 3}]}]}
    },
    "an unsupported customization": {"errors": [{"field": "input", "problem": "ppo with lora ..."}]},
}
# ... and one way each can end with the expected status without doing it.
NOT_DONE: dict[str, dict[str, Any]] = {
    "preprocess a document": {"status": "SUCCEEDED", "result": {"chunks": [], "stats": {"chunks": 0}}},
    "invoke the model (session ada-notes)": answer(output_text=""),
    "invoke again in the same session": answer(history_turns=0),
    "chained: preprocess, then invoke": answer(),
    "preprocess field notes": {"status": "SUCCEEDED", "result": None},
    "an agent searches the notes, computes": answer(
        transcript=[call("search_documents", "error", TIMEOUT), call("calculator")]
    ),
    "an agent whose tool answers an error": answer(transcript=[call("calculator", "error", TIMEOUT)]),
    "the first request again (same key)": {
        "history": [{"event_type": "request.accepted"}, {"event_type": "request.accepted"}]
    },
    "an invalid request": {"errors": [{"field": "input.prompt"}]},
    "customize Nova 2 Lite (RFT), a dry run": {"result": {"dry_run": True, "started": True}},
    "customize Nova Lite (SFT, LoRA), deployed": {"result": TRAINED},
    "invoke the customized model": answer(model_id="amazon.nova-lite-v1:0"),
    "customize Nova Lite (DPO, LoRA)": {"result": {"model": {"name": "m"}}},
    "customize with an invalid dataset": {"error": {"error": "States.Timeout", "cause": "..."}},
    "an unsupported customization": {"message": "Forbidden"},
}
BY_LABEL = {scenario.label: scenario for scenario in SCENARIOS}


def test_every_row_states_a_promise_and_has_a_done_and_a_not_done_case() -> None:
    assert set(DONE) == set(BY_LABEL) == set(NOT_DONE)
    assert all(scenario.promise for scenario in SCENARIOS)


@pytest.mark.parametrize("label", sorted(BY_LABEL))
def test_a_row_is_ok_only_when_its_request_did_what_it_promises(label: str) -> None:
    scenario = BY_LABEL[label]

    assert scenario.check(DONE[label]) is None
    assert scenario.check(NOT_DONE[label])  # says what it did not do


def outcome_of(scenario: Scenario, view: dict[str, Any]) -> Outcome:
    outcome = Outcome(scenario, got=scenario.expect, excerpt="...")
    outcome.broken = scenario.check(view)
    return outcome


OUTCOMES = st.sampled_from(["success", "error"])
TOOLS = st.sampled_from(["search_documents", "calculator", "web_browser"])


@given(st.lists(st.tuples(TOOLS, OUTCOMES, st.sampled_from(["12 * 60 = 720", TIMEOUT, "no match"]))))
def test_the_agent_row_is_ok_only_when_both_tools_were_called_and_every_call_answered(
    calls: list[tuple[str, str, str]],
) -> None:
    scenario = BY_LABEL["an agent searches the notes, computes"]
    view = answer(transcript=[call(tool, outcome, text) for tool, outcome, text in calls])

    outcome = outcome_of(scenario, view)

    every_call_answered = all(outcome == "success" for _, outcome, _ in calls)
    both_called = {"search_documents", "calculator"} <= {tool for tool, _, _ in calls}
    assert outcome.as_expected == (every_call_answered and both_called)


def test_a_tool_timing_out_in_an_agent_that_succeeded_is_a_failed_row_that_says_why() -> None:
    lines: list[str] = []
    outcomes = [outcome_of(BY_LABEL[label], copy.deepcopy(DONE[label])) for label in DONE]
    agent = next(o for o in outcomes if o.scenario.label == "an agent searches the notes, computes")
    agent.broken = agent.scenario.check(NOT_DONE[agent.scenario.label])

    code = report(outcomes, lines.append)

    text = "\n".join(lines)
    assert code == 1
    row = next(line for line in lines if "an agent searches the notes, computes" in line)
    assert row.startswith("!!")
    assert f"search_documents answered error: {TIMEOUT}" in text
    assert "it should be that search_documents and calculator both answer" in text
    assert sum(line.startswith("ok") for line in lines) == len(outcomes) - 1
    assert text.rstrip().endswith("not: an agent searches the notes, computes.")


def test_rows_that_did_what_they_promise_are_all_ok_and_exit_0() -> None:
    lines: list[str] = []
    outcomes = [outcome_of(BY_LABEL[label], DONE[label]) for label in DONE]

    assert report(outcomes, lines.append) == 0
    assert not any(line.startswith("!!") for line in lines)
    assert lines[-1] == f"{len(outcomes)} requests, {len(outcomes)} did what their row says."


def test_a_row_with_another_status_says_what_it_expected() -> None:
    lines: list[str] = []
    scenario = BY_LABEL["preprocess a document"]

    code = report([Outcome(scenario, got="FAILED", excerpt="PreprocessFailed: ...")], lines.append)

    assert code == 1
    assert any(
        "preprocess a document: it should be that" in line and "expected SUCCEEDED, got FAILED" in line
        for line in lines
    )
