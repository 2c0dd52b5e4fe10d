"""A small soak with a fixed seed, as `make test` runs it: `agenthub local soak` in its own process
(its own local cloud, state folder and ports), and its report's verdict. Its subscribers time out
after 15 seconds (the soak's default): a crashed trigger's message comes back soon, a tool answering
too late still answers within it, and a healthy batch on a busy 2-core machine is not taken for a
crashed one. It kills workers
of the front door, the core writer, the triggers, the agents' relay and the tools: a trigger killed
between StartExecution and recording the start starts its Express run again, and that run ends at
its claim without doing any work (statemachines/preprocess.asl.json), so it is no duplicate.

docs/reliability.md: the pipeline cases 13-15, 18, 20 and 21 and the agent cases 25-28 under load
together, and case 1 (raced sends with the same key). The README quotes a run of 1,000 requests at
a 10% fault rate.
"""

from __future__ import annotations

import json
import subprocess
import sys

REQUIRED = {
    "accepted", "succeeded", "failed_expected", "failed_unexpected", "cancelled", "lost", "dead_lettered",
    "duplicate_executions", "duplicate_catalog_rows", "duplicate_memory_turns", "dlq_messages",
    "faults_injected", "wall_seconds", "p50", "p95",
}  # fmt: skip


def test_a_small_soak_with_faults_loses_nothing_and_does_nothing_twice() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "agenthub.cli", "local", "soak", "--requests", "24", "--fault-rate", "0.35",
         "--seed", "165668", "--rate", "6", "--timeout", "150", "--subscriber-timeout", "15", "--json"],
        capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip

    assert run.stdout.strip(), run.stderr
    result = json.loads(run.stdout)
    assert set(result) >= REQUIRED
    assert result["accepted"] == 24
    assert result["lost"] == 0, result
    assert result["failed_unexpected"] == 0, result["unexpected"]
    assert result["duplicate_executions"] == result["duplicate_catalog_rows"] == 0
    assert result["duplicate_memory_turns"] == result["duplicate_acceptances"] == 0
    # Seed 165668 plans every kind of fault for these 24 requests (a tool crashing and one answering
    # too late among them), three past their retries (so three expected failures), and no dead
    # letter (whose redeliveries would take the longest). A kill or a redelivery may find nothing
    # to act on; every rule strikes.
    assert len(result["faults_injected"]) >= 9
    assert result["failed_expected"] >= 1
    assert result["express_executions"] > 0
    assert result["standard_executions"] > 0  # agent runs
    assert sum(result["tool_calls"].values()) > 0  # agents called tools over the hub
    assert result["ok"] is True
    assert run.returncode == 0
