"""The console's state graphs: ASL to nodes and edges, an execution's history to the path it took,
the layout, and the SVG. Histories are written the way moto's interpreter (and Step Functions)
reports them: StateEntered, TaskScheduled/Started/Failed/Succeeded, StateExited, Execution*."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from agenthub import PROJECT_ROOT
from agenthub.local.console.graph import END, START, execution_trace, state_graph, state_node_id
from agenthub.local.console.layout import layout
from agenthub.local.console.svg import render

DEFINITIONS = sorted((PROJECT_ROOT / "statemachines").glob("*.asl.json"))
INVOKE = PROJECT_ROOT / "statemachines" / "invoke_model.asl.json"
CUSTOMIZATION = PROJECT_ROOT / "statemachines" / "nova_customization.asl.json"


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


class History:
    """Builds GetExecutionHistory events in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._ids = count(1)
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)

    def add(self, kind: str, **details: Any) -> History:
        self._clock += timedelta(milliseconds=10)
        event: dict[str, Any] = {"type": kind, "id": next(self._ids), "timestamp": self._clock}
        if details:
            key = {
                "Entered": "stateEnteredEventDetails",
                "Exited": "stateExitedEventDetails",
            }.get(kind[-7:], kind[0].lower() + kind[1:] + "EventDetails")
            event[key] = details
        self.events.append(event)
        return self

    def state(self, kind: str, name: str) -> History:
        return self.add(f"{kind}StateEntered", name=name).add(f"{kind}StateExited", name=name)

    def task(self, name: str, *outcomes: str) -> History:
        """A Task state whose attempts end as `outcomes` ("ok" or an error name); exits unless the last failed
        and nothing follows (the caller adds the exit for a caught error)."""
        self.add("TaskStateEntered", name=name)
        for outcome in outcomes:
            self.add("TaskScheduled", resourceType="lambda", resource="invoke")
            self.add("TaskStarted", resourceType="lambda", resource="invoke")
            if outcome == "ok":
                self.add("TaskSucceeded", resourceType="lambda", resource="invoke", output="{}")
            else:
                self.add("TaskFailed", resourceType="lambda", resource="invoke", error=outcome, cause="boom")
        return self


def test_every_state_and_transition_of_each_definition_becomes_a_node_and_an_edge() -> None:
    for path in DEFINITIONS:
        definition = load(path)
        graph = state_graph(definition)

        assert set(graph.nodes) == {START, END} | {state_node_id(name) for name in definition["States"]}
        expected = [(START, state_node_id(definition["StartAt"]), "next")]
        for name, state in definition["States"].items():
            node = state_node_id(name)
            if "Next" in state:
                expected.append((node, state_node_id(state["Next"]), "next"))
            # One edge per rule: two rules that lead to the same state are two ways there.
            expected += [(node, state_node_id(rule["Next"]), "choice") for rule in state.get("Choices", [])]
            if "Default" in state:
                expected.append((node, state_node_id(state["Default"]), "default"))
            expected += [
                (node, state_node_id(catcher["Next"]), "catch") for catcher in state.get("Catch", [])
            ]
            if state.get("End") or state["Type"] in ("Succeed", "Fail"):
                expected.append((node, END, "end"))
        # Every transition of the definition, and nothing invented.
        assert sorted((edge.source, edge.target, edge.kind) for edge in graph.edges) == sorted(expected)


def test_a_retried_call_is_marked_on_its_state_and_the_path_runs_to_the_end() -> None:
    graph = state_graph(load(INVOKE))
    history = (
        History()
        .add("ExecutionStarted", input="{}")
        .state("Pass", "Read the request")
        .task("Announce that the model call started", "ok")
        .add("TaskStateExited", name="Announce that the model call started")
        .task("Prepare the model request", "ok")
        .add("TaskStateExited", name="Prepare the model request")
        .task("Ask the model", "BedrockRuntime.ThrottlingException", "ok")
        .add("TaskStateExited", name="Ask the model")
        .state("Choice", "Is the reply usable?")
        .task("Announce the answer", "ok")
        .add("TaskStateExited", name="Announce the answer")
        .add("ExecutionSucceeded", output="{}")
    )

    trace = execution_trace(graph, history.events)

    ask = trace.runs[state_node_id("Ask the model")]
    assert (ask.visits, ask.retries, ask.retried_errors) == (1, 1, ["BedrockRuntime.ThrottlingException"])
    assert ask.caught_errors == []
    assert ask.failed_with is None
    assert trace.status == "SUCCEEDED"
    taken = {(edge.source, edge.target, edge.kind) for edge in graph.edges if trace.edge_taken(edge)}
    assert (state_node_id("Is the reply usable?"), state_node_id("Announce the answer"), "default") in taken
    assert (state_node_id("Announce the answer"), END, "end") in taken
    # No error path was taken, and the states off the path were never entered.
    assert not any(kind == "catch" for _, _, kind in taken)
    assert state_node_id("Announce the failure") not in trace.runs


def test_a_caught_error_marks_its_state_and_its_catch_edge_and_the_fail_state_ends_it() -> None:
    graph = state_graph(load(INVOKE))
    history = (
        History()
        .state("Pass", "Read the request")
        .task("Announce that the model call started", "ok")
        .add("TaskStateExited", name="Announce that the model call started")
        .task("Prepare the model request", "ok")
        .add("TaskStateExited", name="Prepare the model request")
        .task("Ask the model", "BedrockRuntime.ValidationException")
        .add("TaskStateExited", name="Ask the model")
        .task("Announce the failure", "ok")
        .add("TaskStateExited", name="Announce the failure")
        .add("FailStateEntered", name="The model call failed")
        .add("ExecutionFailed", error="PipelineFailed", cause="BedrockRuntime.ValidationException: ...")
    )

    trace = execution_trace(graph, history.events)

    ask = trace.runs[state_node_id("Ask the model")]
    assert ask.caught_errors == ["BedrockRuntime.ValidationException"]
    assert ask.retries == 0
    assert ask.failed_with is None
    catch_edges = [edge for edge in graph.edges if edge.kind == "catch" and trace.edge_taken(edge)]
    assert [(edge.source, edge.target) for edge in catch_edges] == [
        (state_node_id("Ask the model"), state_node_id("Announce the failure"))
    ]
    # The Fail state is the designed way out: it ends the run, it did not fail by itself.
    assert trace.runs[state_node_id("The model call failed")].failed_with is None
    assert trace.edge_taken(
        next(e for e in graph.edges if e.source == state_node_id("The model call failed"))
    )
    assert (trace.status, trace.error) == ("FAILED", "PipelineFailed")


def test_an_uncaught_failure_is_marked_where_it_happened() -> None:
    definition = {
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}},
    }
    graph = state_graph(definition)
    history = (
        History()
        .task("Work", "States.Timeout", "States.Timeout")
        .add("ExecutionFailed", error="States.Timeout", cause="")
    )

    trace = execution_trace(graph, history.events)

    work = trace.runs[state_node_id("Work")]
    assert (work.retries, work.failed_with) == (1, "States.Timeout")
    assert not any(trace.edge_taken(edge) for edge in graph.edges if edge.target == END)


def test_a_polling_loop_counts_every_visit_and_a_running_execution_knows_where_it_is() -> None:
    graph = state_graph(load(CUSTOMIZATION))
    history = History()
    for _ in range(3):
        history.state("Wait", "Wait before checking the job").state(
            "Choice", "Which service is training the model?"
        )
        history.task("Check the Bedrock job", "ok").add("TaskStateExited", name="Check the Bedrock job")
    history.add("WaitStateEntered", name="Wait before checking the job")

    trace = execution_trace(graph, history.events)

    assert trace.runs[state_node_id("Wait before checking the job")].visits == 4
    assert trace.runs[state_node_id("Check the Bedrock job")].visits == 3
    assert (trace.status, trace.current) == ("RUNNING", state_node_id("Wait before checking the job"))


def test_the_layout_keeps_nodes_apart_and_routes_every_edge_between_its_ends() -> None:
    for path in DEFINITIONS:
        graph = state_graph(load(path))
        sizes = dict.fromkeys(graph.nodes, (200.0, 50.0))
        edges = [(edge.source, edge.target) for edge in graph.edges]

        placed = layout(sizes, edges, first=START)

        boxes = list(placed.boxes.values())
        for index, a in enumerate(boxes):
            for b in boxes[index + 1 :]:
                apart = a.x + a.width <= b.x or b.x + b.width <= a.x or a.bottom <= b.y or b.bottom <= a.y
                assert apart, f"{path.name}: {a} overlaps {b}"
        assert placed.boxes[START].y == min(box.y for box in boxes)
        for index, (source, target) in enumerate(edges):
            route = placed.routes[index]
            src, dst = placed.boxes[source], placed.boxes[target]
            if index in placed.reversed_edges:  # a loop: leaves the top, enters the bottom
                assert route[0][1] == src.y
                assert route[-1][1] == dst.bottom
            else:
                assert route[0][1] == src.bottom
                assert route[-1][1] == dst.y
            assert src.x <= route[0][0] <= src.x + src.width
            assert dst.x <= route[-1][0] <= dst.x + dst.width
            assert placed.width >= max(x for x, _ in route)
        # The same definition is drawn the same way every time.
        assert layout(sizes, edges, first=START) == placed


def test_the_svg_escapes_state_names_and_carries_the_marks() -> None:
    name = 'Say <b>"hi"</b> & go'
    definition = {
        "StartAt": name,
        "States": {
            name: {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    graph = state_graph(definition)
    history = (
        History()
        .task(name, "Boom", "Boom")
        .add("TaskStateExited", name=name)
        .add("SucceedStateEntered", name="Done")
    )
    history.add("ExecutionSucceeded", output="{}")

    svg = render(graph, execution_trace(graph, history.events), element_id="g1")

    assert "<b>" not in svg
    assert "Say &lt;b&gt;&quot;hi&quot;&lt;/b&gt; &amp; go" in svg
    node = re.search(r'<g class="([^"]*)" data-node="state:Say[^"]*" data-state="[^"]*">', svg)
    assert node is not None
    assert {"visited", "retried", "caught"} <= set(node.group(1).split())
    assert re.search(r'class="edge kind-catch taken"', svg)
    assert 'id="g1-arrow-caught"' in svg
    assert "url(#g1-arrow-caught)" in svg
    # Without an execution, nothing is marked.
    classes = {name for group in re.findall(r'<g class="([^"]*)"', render(graph)) for name in group.split()}
    assert not classes & {"visited", "unvisited", "taken", "retried", "caught", "failed"}


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda path: path.stem)
def test_every_definition_renders(path: Path) -> None:
    svg = render(state_graph(load(path)))

    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert svg.count('class="node') == len(load(path)["States"]) + 2
