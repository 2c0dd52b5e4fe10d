"""What asl-validator cannot check about statemachines/*.asl.json: the house rules for every pipeline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from agenthub import PROJECT_ROOT
from agenthub.template import load_sam_template

DEFINITIONS = sorted((PROJECT_ROOT / "statemachines").glob("*.asl.json"))
PLAIN_ENGLISH = re.compile(r"^[A-Z][a-z]*(?: [a-zA-Z0-9'-]+)*\??$")
TERMINAL_TYPES = {"Fail", "Succeed"}


@cache
def definition(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def states(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def collect(machine: dict[str, Any]) -> None:
        for name, state in machine["States"].items():
            found[name] = state
            for branch in state.get("Branches", []):
                collect(branch)
            if "ItemProcessor" in state:
                collect(state["ItemProcessor"])

    collect(definition(path))
    return found


def announced_event(state: dict[str, Any]) -> str | None:
    """The hub event a publishing task announces, if the state is one."""
    payload = (
        state.get("Arguments", {}).get("Payload", {}) if isinstance(state.get("Arguments"), dict) else {}
    )
    event_type = payload.get("event_type") if isinstance(payload, dict) else None
    return event_type if isinstance(event_type, str) else None


def successors(state: dict[str, Any]) -> Iterator[str]:
    if "Next" in state:
        yield state["Next"]
    for choice in state.get("Choices", []):
        yield choice["Next"]
    if "Default" in state:
        yield state["Default"]


def tasks(path: Path) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in states(path).items() if state["Type"] == "Task"}


@pytest.fixture(params=DEFINITIONS, ids=[path.name for path in DEFINITIONS])
def asl(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


def test_there_are_state_machines_to_check() -> None:
    assert {path.name for path in DEFINITIONS} >= {
        "preprocess.asl.json",
        "invoke_model.asl.json",
        "nova_customization.asl.json",
    }


def test_definitions_use_jsonata(asl: Path) -> None:
    assert definition(asl)["QueryLanguage"] == "JSONata"


def test_every_task_has_retry_catch_and_a_timeout(asl: Path) -> None:
    for name, state in tasks(asl).items():
        assert state.get("Retry"), f"{name} has no Retry"
        assert state.get("Catch"), f"{name} has no Catch"
        timeout = state.get("TimeoutSeconds")
        # A number, or a template parameter's number (JSONata: `{% $number('${Param}') %}`).
        assert isinstance(timeout, int) or re.fullmatch(
            r"\{% \$number\('\$\{[A-Za-z]+\}'\) %\}", str(timeout)
        ), f"{name} has no TimeoutSeconds"


def test_retries_back_off_with_full_jitter_and_a_bound(asl: Path) -> None:
    for name, state in tasks(asl).items():
        for retrier in state["Retry"]:
            assert retrier.get("JitterStrategy") == "FULL", name
            assert retrier.get("BackoffRate", 1) > 1, name
            assert 1 <= retrier.get("MaxAttempts", 3) <= 5, name


def test_states_all_stands_last_and_alone(asl: Path) -> None:
    for name, state in states(asl).items():
        for field in ("Retry", "Catch"):
            handlers = state.get(field, [])
            for index, handler in enumerate(handlers):
                if "States.ALL" in handler["ErrorEquals"]:
                    assert handler["ErrorEquals"] == ["States.ALL"], (
                        f"{name}.{field}: States.ALL is not alone"
                    )
                    assert index == len(handlers) - 1, f"{name}.{field}: States.ALL is not last"


def paths_to_an_end(asl: Path, start: str) -> Iterator[list[str]]:
    """Every path from `start` to a terminal state, following Next, Choices and Default."""
    all_states = states(asl)
    stack = [[start]]
    while stack:
        path = stack.pop()
        state = all_states[path[-1]]
        following = [name for name in successors(state) if name not in path]
        if state["Type"] in TERMINAL_TYPES or state.get("End") or not following:
            yield path
        stack.extend([*path, name] for name in following)


def test_every_catch_all_ends_in_a_failed_announcement(asl: Path) -> None:
    all_states = states(asl)
    for name, state in all_states.items():
        if (announced_event(state) or "").endswith(".failed"):
            continue  # the failure announcement itself can only stop
        for catcher in state.get("Catch", []):
            if "States.ALL" not in catcher["ErrorEquals"]:
                continue  # a named error caught to recover (see the next test)
            for path in paths_to_an_end(asl, catcher["Next"]):
                announced = [announced_event(all_states[step]) or "" for step in path]
                assert any(event.endswith(".failed") for event in announced), f"{name} -> {' -> '.join(path)}"


def test_a_catch_that_recovers_names_its_error_and_says_why(asl: Path) -> None:
    for name, state in states(asl).items():
        for catcher in state.get("Catch", []):
            if "States.ALL" not in catcher["ErrorEquals"]:
                # States.Timeout is the only name a task's timeout has; other States.* are too broad.
                assert all(
                    error == "States.Timeout" or not error.startswith("States.")
                    for error in catcher["ErrorEquals"]
                ), name
                assert catcher.get("Comment"), f"{name}: a recovering Catch says why it recovers"


def test_every_failure_announcement_stops_the_execution_as_failed(asl: Path) -> None:
    all_states = states(asl)
    for name, state in all_states.items():
        if (announced_event(state) or "").endswith(".failed"):
            assert all_states[state["Next"]]["Type"] == "Fail", name
            assert all(all_states[catcher["Next"]]["Type"] == "Fail" for catcher in state["Catch"]), name


def test_state_names_read_as_plain_english(asl: Path) -> None:
    for name in states(asl):
        assert PLAIN_ENGLISH.match(name), f"{name!r} does not read as plain English"
        assert len(name.split()) >= 2, f"{name!r} is a label, not a description"


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_every_arn_arrives_through_definition_substitutions(asl: Path) -> None:
    for name, state in states(asl).items():
        # A Map's nested states are checked on their own (states() lists them).
        own = {
            key: value for key, value in state.items() if key not in ("Resource", "ItemProcessor", "Branches")
        }
        for text in strings(own):
            assert "arn:" not in text, f"{name} spells out an ARN: {text[:80]}"
        resource = state.get("Resource", "arn:aws:states:::")
        assert resource.startswith("arn:aws:states:::"), f"{name}: {resource}"


def template_substitutions() -> dict[str, set[str]]:
    resources = load_sam_template()["Resources"]
    return {
        Path(resource["Properties"]["DefinitionUri"]).name: set(
            resource["Properties"].get("DefinitionSubstitutions", {})
        )
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::StateMachine"
    }


def test_the_template_deploys_every_definition_and_fills_every_placeholder(asl: Path) -> None:
    substitutions = template_substitutions()
    assert asl.name in substitutions, f"{asl.name} is not a state machine of template.yaml"
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", asl.read_text()))
    assert placeholders == substitutions[asl.name]


EXPRESS_LIMIT_SECONDS = 300


def express_definitions() -> list[Path]:
    resources = load_sam_template()["Resources"]
    return [
        PROJECT_ROOT / resource["Properties"]["DefinitionUri"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::StateMachine"
        and resource["Properties"].get("Type") == "EXPRESS"
    ]


def worst_case_seconds(state: dict[str, Any]) -> float:
    """A task's longest run: every attempt times out, and every retry waits its longest backoff."""
    attempts = 1 + sum(retrier.get("MaxAttempts", 3) for retrier in state["Retry"])
    waits = 0.0
    for retrier in state["Retry"]:
        interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
        cap = retrier.get("MaxDelaySeconds", float("inf"))
        waits += sum(min(interval * rate**attempt, cap) for attempt in range(retrier.get("MaxAttempts", 3)))
    return float(state["TimeoutSeconds"] * attempts + waits)


@pytest.mark.parametrize("path", express_definitions(), ids=lambda path: path.name)
def test_an_express_run_announces_its_failure_before_express_stops_it(path: Path) -> None:
    """Every task at its worst, even on paths that cannot all happen, fits in Express's five minutes:
    a run that would be cut off could not announce its failure, and its request would never end."""
    total = sum(worst_case_seconds(state) for state in tasks(path).values())

    assert total < EXPRESS_LIMIT_SECONDS - 20, f"{path.name}: up to {total:.0f}s"
