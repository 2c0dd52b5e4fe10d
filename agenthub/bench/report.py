"""bench/results.json and the table `make bench` prints, from the parts' raw figures.

The keys the issue asks for hold plain numbers (a ratio, a count, a price); the detail behind each
(min / median / max, the variants, the breakdowns) sits beside it under a key of its own.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from agenthub.bench.artifacts import ArtifactSize
from agenthub.bench.costs import LambdaUse, Usage, cost_per_million, load_prices, naive_cost_per_million


def _rounded(value: Any, digits: int = 3) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {key: _rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item, digits) for item in value]
    return value


def _usage(raw: dict[str, Any]) -> Usage:
    lambdas = {name: LambdaUse(**use) for name, use in raw["lambdas"].items()}
    return Usage(**{**raw, "lambdas": lambdas})


def cold_start_figures(functions: dict[str, Any]) -> dict[str, Any]:
    cold = functions["cold_starts"]
    return {
        "cold_start_ratio": {name: round(item["ratio"], 2) for name, item in cold.items()},
        "cold_start_ms": _rounded(
            {
                name: {
                    "function": item["function_ms"],
                    "baseline": item["baseline_ms"],
                    "function_imports": item["import_ms"],
                    "baseline_imports": item["baseline_import_ms"],
                    "calls": item["calls"],
                }
                for name, item in cold.items()
            },
            1,
        ),
        "cold_start_not_measured": functions.get("cold_starts_not_measured", {}),
    }


def variant_figures(functions: dict[str, Any]) -> dict[str, Any]:
    """The front door's cold start on altered copies of its package (what-ifs, not what is deployed)."""
    return {
        "front_door_cold_start_what_if": _rounded(
            {
                name: {
                    "ratio": item["ratio"],
                    "function_ms": item["function_ms"],
                    "baseline_ms": item["baseline_ms"],
                }
                for name, item in functions.get("front_door_variants", {}).items()
            },
            2,
        )
    }


def front_door_figures(functions: dict[str, Any]) -> dict[str, Any]:
    warm = functions["front_door"]
    traced = warm["traced"]
    return {
        "front_door_overhead_ratio": round(traced["ratio"], 2),
        "front_door_overhead_us": _rounded(
            {
                "median": traced["handler_us"]["median"],
                "bare_median": traced["bare_us"]["median"],
                "handler": traced["handler_us"],
                "bare": traced["bare_us"],
                "calls": traced["calls"],
            },
            1,
        )
        | {
            "variants": {
                name: {"ratio": round(item["ratio"], 2), "median": round(item["handler_us"]["median"], 1)}
                for name, item in warm.items()
            }
        },
    }


def e2e_figures(load: dict[str, Any]) -> dict[str, Any]:
    return {
        "e2e_requests": load["requests"],
        "e2e_seconds": round(load["seconds"], 1),
        "e2e_p50_seconds": round(load["p50_seconds"], 2),
        "e2e_p95_seconds": round(load["p95_seconds"], 2),
        "e2e_requests_per_second": round(load["requests"] / load["seconds"], 2),
        "e2e_statuses": load["statuses"],
        "e2e_api_statuses": load["api_statuses"],
        "e2e_p50_by_pipeline_seconds": _rounded(load["by_kind_p50_seconds"], 2),
    }


def count_figures(counts: dict[str, Any]) -> dict[str, Any]:
    prices = load_prices()
    pipelines = counts["pipelines"]
    built = {name: cost_per_million(_usage(item["usage"]), prices) for name, item in pipelines.items()}
    naive = {name: naive_cost_per_million(_usage(item["usage"]), prices) for name, item in pipelines.items()}
    return {
        "per_request_counts": {name: item["counts"] for name, item in pipelines.items()},
        "cost_per_million_usd": {name: round(cost.total, 2) for name, cost in built.items()},
        "cost_breakdown_per_million_usd": {
            name: _rounded(cost.by_service, 2) for name, cost in built.items()
        },
        "naive_cost_per_million_usd": {name: round(cost.total, 2) for name, cost in naive.items()},
        "naive_cost_breakdown_per_million_usd": {
            name: _rounded(cost.by_service, 2) for name, cost in naive.items()
        },
    }


def artifact_figures(sizes: dict[str, ArtifactSize]) -> dict[str, Any]:
    return {
        "artifact_bytes": {name: size.bytes for name, size in sizes.items()},
        "artifact_detail": {name: asdict(size) for name, size in sizes.items()},
    }


def results(
    parts: dict[str, Any], sizes: dict[str, ArtifactSize], previous: dict[str, Any]
) -> dict[str, Any]:
    """Every figure; a part left out this run keeps its figures from the previous results."""
    figures = dict(previous)
    if "functions" in parts:
        functions = parts["functions"]
        figures |= cold_start_figures(functions) | variant_figures(functions) | front_door_figures(functions)
    if "e2e" in parts:
        figures |= e2e_figures(parts["e2e"])
    if "counts" in parts:
        figures |= count_figures(parts["counts"])
    figures |= artifact_figures(sizes)
    return figures


def table(figures: dict[str, Any]) -> str:
    lines = ["", "cold start (import + first event, ms; ratio of medians against bare boto3)"]
    for name, ratio in sorted(figures.get("cold_start_ratio", {}).items()):
        ms = figures["cold_start_ms"][name]
        function, baseline = ms["function"], ms["baseline"]
        lines.append(
            f"  {name:32} {ratio:5.2f}x  {function['minimum']:7.0f} / {function['median']:7.0f} / "
            f"{function['maximum']:7.0f}  vs  {baseline['median']:5.0f}"
        )
    for name, reason in sorted(figures.get("cold_start_not_measured", {}).items()):
        lines.append(f"  {name:32} not measured: {reason}")
    for name, item in figures.get("front_door_cold_start_what_if", {}).items():
        lines.append(
            f"  FrontDoorFunction, {name:24} {item['ratio']:5.2f}x  "
            f"median {item['function_ms']['median']:7.0f}  vs  {item['baseline_ms']['median']:5.0f} (what-if)"
        )
    if "front_door_overhead_ratio" in figures:
        warm = figures["front_door_overhead_us"]
        lines.append(
            f"\nfront door warm POST: {figures['front_door_overhead_ratio']:.2f}x, "
            f"median {warm['median']:.0f} us against {warm['bare_median']:.0f} us bare ("
            + ", ".join(f"{name} {item['ratio']:.2f}x" for name, item in warm["variants"].items())
            + ")"
        )
    if "e2e_seconds" in figures:
        lines.append(
            f"\nlocal cloud, {figures['e2e_requests']} mixed requests: {figures['e2e_seconds']:.1f} s "
            f"({figures['e2e_requests_per_second']:.2f} req/s), p50 {figures['e2e_p50_seconds']:.2f} s, "
            f"p95 {figures['e2e_p95_seconds']:.2f} s, {figures['e2e_statuses']}"
        )
    if "per_request_counts" in figures:
        lines.append(
            "\nper request   transitions  lambdas  ddb r/w  s3  hub  sqs   $/million  naive $/million"
        )
        for name, counts in figures["per_request_counts"].items():
            lines.append(
                f"  {name:11} {counts['state_transitions']:11}  {counts['lambda_invocations']:7}  "
                f"{counts['dynamodb_reads']:3}/{counts['dynamodb_writes']:<3}  {counts['s3_requests']:2}  "
                f"{counts['hub_messages']:3}  {counts['sqs_requests']:3}  "
                f"{figures['cost_per_million_usd'][name]:10.2f}  "
                f"{figures['naive_cost_per_million_usd'][name]:6.2f}"
            )
    sizes = figures.get("artifact_bytes", {})
    if sizes:
        total = sum(sizes.values())
        lines.append(
            f"\nartifacts: {len(sizes)} functions, {min(sizes.values()) / 1e6:.1f}-"
            f"{max(sizes.values()) / 1e6:.1f} MB each, {total / 1e6:.0f} MB in all"
        )
    return "\n".join(lines)
