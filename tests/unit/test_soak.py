"""The soak's plan and its ledger's arithmetic, without a local cloud (tests/e2e/test_soak.py runs one)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from pydantic import TypeAdapter

from agenthub.soak.ledger import Accepted, Final, Observed, percentile, report
from agenthub.soak.plan import FAULTS, PIPELINES, Caller, Expect, plan_requests
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
    for request in planned:
        if request.fault is None:
            continue
        if request.fault.rule is not None:
            assert request.fault.rule["match"] == request.marker
            assert request.marker in json.dumps(request.body)
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
