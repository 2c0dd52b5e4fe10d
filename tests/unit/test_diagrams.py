"""The README's diagrams are generated from the sources, and current."""

from __future__ import annotations

import json

import pytest

from agenthub.diagrams import README, STATE_MACHINES, generated_blocks, rewrite, state_machine


def test_the_readmes_diagrams_are_current() -> None:
    current = README.read_text()

    assert rewrite(current, generated_blocks()) == current, "run `agenthub diagrams`"


def test_the_architecture_shows_every_subscription_and_tool_stack() -> None:
    architecture = generated_blocks()["architecture"]

    for subscriber in ("CoreWriterSubscriber", "PreprocessSubscriber", "AgentToolAnswersSubscriber"):
        assert f"{subscriber} queue + DLQ" in architecture
    assert "tool stack: calculator" in architecture
    assert "first_stage: preprocess" in architecture  # a filter on its arrow


def test_a_state_machine_diagram_has_every_state() -> None:
    definition = json.loads((STATE_MACHINES / "preprocess.asl.json").read_text())

    drawing = state_machine(definition)

    for name in definition["States"]:
        assert name.replace('"', "#quot;") in drawing


def test_a_readme_without_a_blocks_markers_is_refused_by_name() -> None:
    with pytest.raises(LookupError, match="generated:architecture"):
        rewrite("no markers here", {"architecture": "flowchart LR"})
