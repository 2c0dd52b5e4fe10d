"""What a bench run did not measure: the gaps that make its figures less than they claim.

A bench that quietly measures less than it says rots unseen (a function left out of the cold
starts, a request counted while it failed, a cost of nothing, a profile of no samples). Each gap
is named here, and a run with any fails: `make bench`, and its smoke in `make test`. Gaps are
about what was measured, never about how fast: no figure is judged against a goal here.
"""

from __future__ import annotations

import math
from typing import Any

from agenthub.bench.samples import NOT_MEASURED

# What one request of every pipeline does in this architecture, whatever it costs: the front door
# is called, functions run, the hub carries messages to queues, the catalog is written, a state
# machine runs. A count of zero means the counting stopped seeing it, not that the hub got cheaper.
ALWAYS_COUNTED = (
    "api_requests",
    "lambda_invocations",
    "hub_messages",
    "sns_to_sqs_deliveries",
    "sqs_requests",
    "dynamodb_writes",
    "state_transitions",
)
SUCCEEDED = "SUCCEEDED"


def function_gaps(functions: dict[str, Any], not_measurable: dict[str, str] = NOT_MEASURED) -> list[str]:
    """Every function of the template measured, or listed as not measurable with its reason."""
    gaps = [
        f"cold start of {name} not measured: {reason}"
        for name, reason in sorted(functions["cold_starts_not_measured"].items())
        if name not in not_measurable
    ]
    template = set(functions["functions"])
    gaps += [
        f"{name} is listed as not measurable in agenthub/bench/samples.py, but the template has no such one"
        for name in sorted(set(not_measurable) - template)
    ]
    gaps += [
        f"{name} is listed as not measurable in agenthub/bench/samples.py, yet it was measured: "
        "take it off the list"
        for name in sorted(set(not_measurable) & set(functions["cold_starts"]))
    ]
    missing = template - set(functions["cold_starts"]) - set(functions["cold_starts_not_measured"])
    gaps += [f"cold start of {name} neither measured nor reported" for name in sorted(missing)]
    return gaps


def count_gaps(counts: dict[str, Any], pipelines: list[str]) -> list[str]:
    gaps = [f"no counts for the {name} pipeline" for name in pipelines if name not in counts["pipelines"]]
    for name, pipeline in sorted(counts["pipelines"].items()):
        figures = pipeline["counts"]
        gaps += [
            f"{name}: {figure} counted {figures.get(figure)} for a request (the counting no longer sees it)"
            for figure in ALWAYS_COUNTED
            if not figures.get(figure)
        ]
    return gaps


def cost_gaps(figures: dict[str, Any]) -> list[str]:
    """Every counted pipeline priced, as built and naive, at a finite cost above nothing."""
    gaps = []
    for name in sorted(figures.get("per_request_counts", {})):
        for table in ("cost_per_million_usd", "naive_cost_per_million_usd"):
            total = figures.get(table, {}).get(name)
            if not isinstance(total, int | float) or not math.isfinite(total) or total <= 0:
                gaps.append(f"{table} of {name} could not be computed: {total}")
        for table in ("cost_breakdown_per_million_usd", "naive_cost_breakdown_per_million_usd"):
            services = figures.get(table, {}).get(name, {})
            gaps += [
                f"{table} of {name}: {service} is {value}"
                for service, value in sorted(services.items())
                if not math.isfinite(value) or value < 0
            ]
    return gaps


def e2e_gaps(load: dict[str, Any]) -> list[str]:
    """Every request of the load ended SUCCEEDED, as the catalog and the API saw it; the profile
    has samples."""
    gaps = []
    if not load["requests"]:
        gaps.append("the end-to-end load sent no requests")
    for source in ("statuses", "api_statuses"):
        others = {status: n for status, n in load[source].items() if status != SUCCEEDED}
        if others:
            gaps.append(
                f"end to end: {sum(others.values())} of {load['requests']} requests did not succeed "
                f"({source}: {others})"
            )
    for figure in ("seconds", "p50_seconds", "p95_seconds"):
        if not math.isfinite(load[figure]):
            gaps.append(f"end to end: {figure} is {load[figure]}")
    if not load.get("profile_samples"):
        gaps.append("the local cloud's profile has no samples (py-spy saw nothing)")
    return gaps


def artifact_gaps(figures: dict[str, Any], functions: list[str]) -> list[str]:
    sizes = figures.get("artifact_bytes", {})
    return [
        f"no artifact size for {name} (is .aws-sam/build current?)" for name in functions if name not in sizes
    ]


def gaps(parts: dict[str, Any], figures: dict[str, Any], pipelines: list[str]) -> list[str]:
    """Every gap of a run, from the parts it ran and the figures made of them."""
    found: list[str] = []
    if "functions" in parts:
        found += function_gaps(parts["functions"])
        found += artifact_gaps(figures, parts["functions"]["functions"])
    if "counts" in parts:
        found += count_gaps(parts["counts"], pipelines) + cost_gaps(figures)
    if "e2e" in parts:
        found += e2e_gaps(parts["e2e"])
    return found
