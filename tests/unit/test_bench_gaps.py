"""What makes a bench run fail: a part that failed or left a gap, never a figure's size; and where
each run's figures go (a smoke, or an incomplete run, never over the committed ones)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from agenthub.bench.artifacts import ArtifactSize
from agenthub.bench.costs import MissingPrice, load_prices
from agenthub.bench.e2e import MIX, MIX_CHAINED, mixed_requests
from agenthub.bench.gaps import ALWAYS_COUNTED, cost_gaps, count_gaps, e2e_gaps, function_gaps, gaps
from agenthub.bench.run import FULL, FULL_PATHS, SMOKE, SMOKE_PATHS, Paths, report_run
from agenthub.bench.stats import spread


def spread_of(value: float) -> dict[str, float]:
    return asdict(spread([value]))


def functions_part(measured: list[str], not_measured: dict[str, str]) -> dict[str, Any]:
    cold = {
        "function_ms": spread_of(900.0),
        "baseline_ms": spread_of(600.0),
        "ratio": 1.5,
        "import_ms": spread_of(500.0),
        "baseline_import_ms": spread_of(300.0),
        "calls": [],
    }
    warm = {"handler_us": spread_of(2500.0), "bare_us": spread_of(1300.0), "ratio": 1.9, "calls": []}
    return {
        "functions": sorted([*measured, *not_measured]),
        "cold_starts": dict.fromkeys(measured, cold),
        "cold_starts_not_measured": not_measured,
        "front_door_variants": {},
        "front_door": {"traced": warm},
    }


def test_a_function_not_measured_is_a_gap_unless_listed_with_its_reason() -> None:
    part = functions_part(["FrontDoorFunction"], {"SweeperFunction": "function exited 1"})

    assert function_gaps(part, {}) == ["cold start of SweeperFunction not measured: function exited 1"]
    assert function_gaps(part, {"SweeperFunction": "needs a schedule"}) == []


def test_the_list_of_functions_not_measurable_cannot_go_stale() -> None:
    part = functions_part(["FrontDoorFunction"], {})

    stale = function_gaps(part, {"GoneFunction": "was removed", "FrontDoorFunction": "was not measurable"})

    assert stale == [
        "GoneFunction is listed as not measurable in agenthub/bench/samples.py, "
        "but the template has no such one",
        "FrontDoorFunction is listed as not measurable in agenthub/bench/samples.py, yet it was measured: "
        "take it off the list",
    ]


def test_a_function_neither_measured_nor_reported_is_a_gap() -> None:
    part = functions_part(["FrontDoorFunction"], {})
    part["functions"].append("NewFunction")

    assert function_gaps(part, {}) == ["cold start of NewFunction neither measured nor reported"]


def counts_part(**figures: int) -> dict[str, Any]:
    counts = dict.fromkeys(ALWAYS_COUNTED, 3) | figures
    return {"pipelines": {"invoke": {"counts": counts}}}


@pytest.mark.parametrize("figure", ALWAYS_COUNTED)
def test_a_request_counted_doing_none_of_what_every_request_does_is_a_gap(figure: str) -> None:
    assert count_gaps(counts_part(), ["invoke"]) == []
    assert count_gaps(counts_part(**{figure: 0}), ["invoke"]) == [
        f"invoke: {figure} counted 0 for a request (the counting no longer sees it)"
    ]
    assert count_gaps(counts_part(), ["invoke", "chained"]) == ["no counts for the chained pipeline"]


def costs(total: float, service: float = 1.0) -> dict[str, Any]:
    return {
        "per_request_counts": {"invoke": {}},
        "cost_per_million_usd": {"invoke": total},
        "naive_cost_per_million_usd": {"invoke": 100.0},
        "cost_breakdown_per_million_usd": {"invoke": {"lambda": service}},
        "naive_cost_breakdown_per_million_usd": {"invoke": {"lambda": 1.0}},
    }


def test_a_cost_that_could_not_be_computed_is_a_gap() -> None:
    assert cost_gaps(costs(27.85)) == []
    assert cost_gaps(costs(0.0)) == ["cost_per_million_usd of invoke could not be computed: 0.0"]
    assert cost_gaps(costs(math.nan))[0].startswith("cost_per_million_usd of invoke could not be computed")
    assert cost_gaps(costs(27.85, service=math.inf)) == [
        "cost_breakdown_per_million_usd of invoke: lambda is inf"
    ]
    missing = {**costs(27.85), "naive_cost_per_million_usd": {}}
    assert cost_gaps(missing) == ["naive_cost_per_million_usd of invoke could not be computed: None"]


def test_a_price_missing_from_the_table_is_named() -> None:
    prices = load_prices()

    with pytest.raises(MissingPrice, match=r"bench/prices\.json has no price 'lambda_x86_request'"):
        prices["lambda_x86_request"]


def load(
    statuses: dict[str, int], api_statuses: dict[str, int] | None = None, samples: int = 40
) -> dict[str, Any]:
    return {
        "requests": sum(statuses.values()),
        "seconds": 14.2,
        "p50_seconds": 8.4,
        "p95_seconds": 9.5,
        "statuses": statuses,
        "api_statuses": api_statuses if api_statuses is not None else statuses,
        "profile_samples": samples,
    }


def test_every_request_of_the_load_must_succeed_and_the_profile_must_have_samples() -> None:
    assert e2e_gaps(load({"SUCCEEDED": 10})) == []
    assert e2e_gaps(load({"SUCCEEDED": 8, "FAILED": 1, "NOT_TERMINAL": 1}, {"SUCCEEDED": 10})) == [
        "end to end: 2 of 10 requests did not succeed (statuses: {'FAILED': 1, 'NOT_TERMINAL': 1})"
    ]
    assert e2e_gaps(load({"SUCCEEDED": 10}, {"SUCCEEDED": 9, "HTTP 429": 1})) == [
        "end to end: 1 of 10 requests did not succeed (api_statuses: {'HTTP 429': 1})"
    ]
    assert e2e_gaps(load({"SUCCEEDED": 10}, samples=0)) == [
        "the local cloud's profile has no samples (py-spy saw nothing)"
    ]


def test_slow_figures_are_no_gap() -> None:
    part = functions_part(["FrontDoorFunction"], {})
    part["cold_starts"]["FrontDoorFunction"]["ratio"] = 40.0
    slow = {**load({"SUCCEEDED": 10}), "seconds": 3600.0, "p50_seconds": 900.0, "p95_seconds": 1800.0}
    figures = {"artifact_bytes": {"FrontDoorFunction": 50_000_000}}

    assert gaps({"functions": part, "e2e": slow}, figures, []) == []


def test_the_smoke_is_every_part_on_a_small_scale_written_apart_from_the_committed_figures() -> None:
    assert (SMOKE.pairs, SMOKE.count_repeats) == (1, 1)
    assert SMOKE.calls < FULL.calls
    assert SMOKE.variant_pairs < FULL.variant_pairs
    assert FULL_PATHS.results.parent.name == "bench"
    assert SMOKE_PATHS.results != FULL_PATHS.results
    assert SMOKE_PATHS.profile != FULL_PATHS.profile
    assert SMOKE_PATHS.results.is_relative_to(SMOKE_PATHS.work)

    smoke_load, full_load = mixed_requests(share=SMOKE.mixed_share), mixed_requests()

    kinds = {kind for kind, _ in smoke_load}
    assert kinds == {*MIX, MIX_CHAINED[0]}  # every kind, at least once
    assert len(smoke_load) == 10
    assert len(full_load) == 200


SIZES = {name: ArtifactSize(230_000, 51, 0, 200_000, 0) for name in ("FrontDoorFunction", "SweeperFunction")}


def paths_in(tmp_path: Path) -> Paths:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "profile-local-cloud.txt").write_text("new profile\n")
    (tmp_path / "committed").mkdir()
    results, profile = tmp_path / "committed" / "results.json", tmp_path / "committed" / "profile.txt"
    results.write_text('{"cold_start_ratio": {"FrontDoorFunction": 1.79}}\n')
    profile.write_text("committed profile\n")
    return Paths(tmp_path / "work", results, profile)


def test_an_incomplete_full_run_fails_and_leaves_the_committed_figures_as_they_were(tmp_path: Path) -> None:
    paths = paths_in(tmp_path)
    part = functions_part(["FrontDoorFunction"], {"SweeperFunction": "function exited 1"})

    code = report_run({"functions": part}, ["the e2e part failed (exit 1)"], False, paths, 60.0, SIZES)

    assert code == 1
    assert json.loads(paths.results.read_text()) == {"cold_start_ratio": {"FrontDoorFunction": 1.79}}
    assert paths.profile.read_text() == "committed profile\n"
    incomplete = json.loads((paths.work / "results.incomplete.json").read_text())
    assert incomplete["incomplete"] == [
        "the e2e part failed (exit 1)",
        "cold start of SweeperFunction not measured: function exited 1",
    ]
    assert incomplete["cold_start_ratio"] == {"FrontDoorFunction": 1.5}


def test_a_complete_full_run_replaces_the_figures_and_keeps_those_of_the_parts_it_left_out(
    tmp_path: Path,
) -> None:
    paths = paths_in(tmp_path)
    committed = json.loads(FULL_PATHS.results.read_text())
    paths.results.write_text(json.dumps(committed))

    code = report_run({"functions": functions_part(["FrontDoorFunction"], {})}, [], False, paths, 60.0, SIZES)

    assert code == 0
    written = json.loads(paths.results.read_text())
    assert written["cold_start_ratio"] == {"FrontDoorFunction": 1.5}
    assert written["e2e_seconds"] == committed["e2e_seconds"]  # the e2e part was left out (--skip e2e)
    assert "incomplete" not in written
    assert not (paths.work / "results.incomplete.json").exists()
    assert paths.profile.read_text() == "committed profile\n"  # no e2e part, no new profile


def test_a_smoke_keeps_no_figure_from_before_and_fails_on_a_gap(tmp_path: Path) -> None:
    paths = paths_in(tmp_path)
    smoke = Paths(paths.work, paths.work / "results.json", paths.work / "profile-local-cloud.txt")
    smoke.results.write_text('{"e2e_seconds": 62.4}\n')
    part = functions_part(["FrontDoorFunction"], {"SweeperFunction": "function exited 1"})

    code = report_run({"functions": part}, [], True, smoke, 95.0, SIZES)

    assert code == 1
    written = json.loads(smoke.results.read_text())
    assert "e2e_seconds" not in written
    assert written["smoke"] == {
        "seconds": 95,
        "gaps": ["cold start of SweeperFunction not measured: function exited 1"],
    }
    assert paths.results.read_text() == '{"cold_start_ratio": {"FrontDoorFunction": 1.79}}\n'
