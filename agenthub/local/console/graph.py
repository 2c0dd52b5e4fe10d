"""A state machine as a graph, and what one execution did on it. Pure: no I/O.

`state_graph` reads an Amazon States Language definition into nodes (a start, every top-level
state, an end) and edges (`Next`, each `Choices` rule, `Default`, each `Catch`, and the way out of
`End`, `Succeed` and `Fail` states). `execution_trace` reads an execution's history
(`GetExecutionHistory` events, oldest first) into the path taken, with every state's visits,
retries, caught errors and the error it failed with.

A Parallel or Map state is drawn as one node: its branches' states are inside it, and the history
events of its inner states count towards it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

START = "start"
END = "end"
# How a state's visit ends in the history: a task failure names the error; the state's retry
# policy then schedules the task again, or its Catch moves on to another state.
_NON_STATE_FAILURES = ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")
_EXECUTION_ENDS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    kind: str  # "start", "end", or the state's Type
    detail: str = ""  # a Task's service integration, a Wait's duration
    comment: str = ""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # "next", "choice", "default", "catch", "end"
    label: str = ""
    title: str = ""  # the full rule or error list, for a tooltip


@dataclass
class StateGraph:
    nodes: dict[str, Node]
    edges: list[Edge]
    start_at: str | None

    def state_id(self, name: str) -> str | None:
        node_id = state_node_id(name)
        return node_id if node_id in self.nodes else None


def state_node_id(name: str) -> str:
    # Prefixed, so a state named "start" or "end" cannot collide with the two terminals.
    return f"state:{name}"


def _task_detail(state: dict[str, Any]) -> str:
    resource = str(state.get("Resource", ""))
    prefix = "arn:aws:states:::"
    if resource.startswith(prefix):
        service = resource[len(prefix) :]
        return service.removeprefix("aws-sdk:")
    if ":function:" in resource:
        return "lambda:" + resource.rsplit(":function:", 1)[1].split(":", 1)[0]
    return resource.rsplit(":", 1)[-1] if resource else ""


def _detail(state: dict[str, Any]) -> str:
    kind = state.get("Type")
    if kind == "Task":
        return _task_detail(state)
    if kind == "Wait":
        seconds = state.get("Seconds")
        # A JSONata or path duration is only known at run time.
        return f"{seconds}s" if isinstance(seconds, int | float) else "computed"
    if kind == "Parallel":
        return f"{len(state.get('Branches', []))} branch(es)"
    if kind == "Map":
        return "for each item"
    return ""


def _rule_text(rule: dict[str, Any]) -> str:
    """A Choice rule as text: its JSONata Condition, or its JSONPath comparison."""
    if "Condition" in rule:
        return str(rule["Condition"])
    return json.dumps({key: value for key, value in rule.items() if key != "Next"}, sort_keys=True)


def state_graph(definition: dict[str, Any]) -> StateGraph:
    states: dict[str, Any] = definition.get("States") or {}
    start_at = definition.get("StartAt")
    nodes: dict[str, Node] = {START: Node(START, "Start", "start")}
    edges: list[Edge] = []
    for name, state in states.items():
        nodes[state_node_id(name)] = Node(
            state_node_id(name),
            name,
            str(state.get("Type", "?")),
            _detail(state),
            str(state.get("Comment", "")),
        )
    nodes[END] = Node(END, "End", "end")
    if start_at in states:
        edges.append(Edge(START, state_node_id(start_at), "next"))

    def to(target: str | None) -> str | None:
        return state_node_id(target) if target in states else None

    for name, state in states.items():
        source = state_node_id(name)
        if target := to(state.get("Next")):
            edges.append(Edge(source, target, "next"))
        for index, rule in enumerate(state.get("Choices") or [], start=1):
            if target := to(rule.get("Next")):
                edges.append(Edge(source, target, "choice", f"rule {index}", _rule_text(rule)))
        if target := to(state.get("Default")):
            edges.append(Edge(source, target, "default", "default", "no rule matched"))
        for catcher in state.get("Catch") or []:
            if target := to(catcher.get("Next")):
                errors = [str(error) for error in catcher.get("ErrorEquals", [])]
                edges.append(Edge(source, target, "catch", "catch", "catches " + ", ".join(errors)))
        if state.get("End") or state.get("Type") in ("Succeed", "Fail"):
            edges.append(Edge(source, END, "end"))
    return StateGraph(nodes, edges, start_at)


@dataclass
class StateRun:
    """What one execution did in one state, over all its visits."""

    visits: int = 0
    retries: int = 0
    retried_errors: list[str] = field(default_factory=list)
    caught_errors: list[str] = field(default_factory=list)
    failed_with: str | None = None  # the error the execution failed with here, uncaught
    entered_at: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    caught: bool  # left through a Catch


@dataclass
class ExecutionTrace:
    runs: dict[str, StateRun] = field(default_factory=dict)
    transitions: dict[Transition, int] = field(default_factory=dict)
    status: str = "RUNNING"
    current: str | None = None  # the state the execution is in, while it runs
    error: str | None = None
    cause: str | None = None

    def run(self, node_id: str) -> StateRun:
        return self.runs.setdefault(node_id, StateRun())

    def took(self, source: str, target: str, caught: bool = False) -> None:
        key = Transition(source, target, caught)
        self.transitions[key] = self.transitions.get(key, 0) + 1

    def edge_taken(self, edge: Edge) -> int:
        """How often the execution went along `edge`; a catch edge only counts caught transitions."""
        caught = self.transitions.get(Transition(edge.source, edge.target, True), 0)
        normal = self.transitions.get(Transition(edge.source, edge.target, False), 0)
        return caught if edge.kind == "catch" else normal


def event_details(event: dict[str, Any]) -> dict[str, Any]:
    """The `...EventDetails` member of a history event (every event type names its own)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _is_state_failure(event_type: str) -> bool:
    return event_type not in _NON_STATE_FAILURES and event_type.endswith(
        ("Failed", "TimedOut", "StartFailed", "SubmitFailed")
    )


def execution_trace(graph: StateGraph, events: list[dict[str, Any]]) -> ExecutionTrace:
    trace = ExecutionTrace()
    previous = START  # the state the execution last left, where the next transition starts
    current: str | None = None
    pending_error: str | None = None  # a failure in the current state not yet retried or caught
    for event in events:
        kind = str(event.get("type", ""))
        details = event_details(event)
        if kind.endswith("StateEntered"):
            node = graph.state_id(str(details.get("name", "")))
            if node is None:
                continue  # a state inside a Parallel or Map branch: it counts towards its parent
            trace.took(previous, node, caught=pending_error is not None)
            pending_error = None
            current = node
            run = trace.run(node)
            run.visits += 1
            run.entered_at.append(event.get("timestamp"))
        elif kind.endswith("StateExited"):
            node = graph.state_id(str(details.get("name", "")))
            if node is None or node != current:
                continue
            if pending_error is not None:
                # A failed attempt followed by the state's exit: a Catch took it elsewhere.
                trace.run(node).caught_errors.append(pending_error)
            previous = node
        elif kind in _EXECUTION_ENDS:
            trace.status = _EXECUTION_ENDS[kind]
            trace.error = details.get("error")
            trace.cause = details.get("cause")
            if current is not None and kind != "ExecutionSucceeded":
                run = trace.run(current)
                if graph.nodes[current].kind != "Fail" or pending_error is not None:
                    run.failed_with = pending_error or trace.error or kind
            last = current if current is not None else previous
            if kind == "ExecutionSucceeded" or (current is not None and graph.nodes[current].kind == "Fail"):
                trace.took(last, END)
            current = None
        elif _is_state_failure(kind) and current is not None:
            pending_error = str(details.get("error") or kind)
        elif kind.endswith("Scheduled") and pending_error is not None and current is not None:
            # The same state scheduled its work again after a failure: its Retry policy.
            run = trace.run(current)
            run.retries += 1
            run.retried_errors.append(pending_error)
            pending_error = None
    trace.current = current
    return trace
