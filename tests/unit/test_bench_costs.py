"""The cost arithmetic: per-million prices of one request's counted usage, as built and naive."""

from __future__ import annotations

import pytest

from agenthub.bench.costs import (
    MILLION,
    LambdaUse,
    Usage,
    cost_per_million,
    load_prices,
    naive_cost_per_million,
)

PRICES = {
    "api_gateway_rest_request": 3.5e-06,
    "lambda_arm64_request": 2.0e-07,
    "lambda_arm64_gb_second": 1.33334e-05,
    "dynamodb_on_demand_write_unit": 6.25e-07,
    "dynamodb_on_demand_read_unit": 1.25e-07,
    "sns_publish": 5.0e-07,
    "sqs_request": 4.0e-07,
    "step_functions_standard_transition": 2.5e-05,
    "step_functions_express_request": 1.0e-06,
    "step_functions_express_gb_second": 1.6667e-05,
    "s3_standard_write_request": 5.0e-06,
    "s3_standard_read_request": 4.0e-07,
    "kms_request": 3.0e-06,
    "cloudwatch_logs_ingestion_gb": 0.5,
}


def usage(**changes: object) -> Usage:
    fields: dict[str, object] = {
        "api_requests": 1,
        "lambdas": {"Front": LambdaUse(invocations=1, billed_ms=100, memory_mb=1024)},
        "dynamodb_write_units": 4,
        "dynamodb_reads": 2,
        "sns_publishes": 3,
        "sqs_requests": 10,
        "s3_writes": 1,
        "s3_reads": 1,
        "express_executions": 1,
        "express_billed_seconds": 0.3,
        "standard_transitions": 0,
        "all_transitions": 6,
        "sdk_task_states": 1,
        "log_bytes": 1024**3 // MILLION,  # a GB per million requests
        "lambda_task_ms": 20.0,
        "hub_publishers": 10,
    }
    return Usage(**{**fields, **changes})  # type: ignore[arg-type]


def test_each_service_is_priced_from_its_counts() -> None:
    cost = cost_per_million(usage(), PRICES)

    assert cost.by_service["api_gateway"] == pytest.approx(3.5)
    # 1 invocation ($0.20/M) + 0.1 s at 1 GB ($1.33334/M)
    assert cost.by_service["lambda"] == pytest.approx(0.2 + 1.33334, abs=1e-4)
    assert cost.by_service["dynamodb"] == pytest.approx(4 * 0.625 + 2 * 0.125)
    assert cost.by_service["sns"] == pytest.approx(1.5)
    # SNS's formula: 30 days / 300 s * 2 requests * 10 publishers, over a million requests a month
    assert cost.by_service["kms"] == pytest.approx(8640 * 2 * 10 * 3.0e-6)
    assert cost.by_service["sqs"] == pytest.approx(4.0)
    assert cost.by_service["s3"] == pytest.approx(5.0 + 0.4)
    # 1 Express start + 0.3 s at 64 MB
    assert cost.by_service["step_functions"] == pytest.approx(1.0 + 0.3 / 16 * 16.667, abs=1e-3)
    assert cost.by_service["cloudwatch_logs"] == pytest.approx(0.5, abs=1e-3)
    assert cost.total == pytest.approx(sum(cost.by_service.values()), abs=1e-3)


def test_the_naive_design_pays_every_transition_and_a_lambda_per_sdk_step() -> None:
    built = cost_per_million(usage(), PRICES)
    naive = naive_cost_per_million(usage(), PRICES)

    assert naive.by_service["step_functions"] == pytest.approx(6 * 25.0)
    # the SDK step became a 256 MB Lambda as long as the pipeline's own task Lambdas (20 ms)
    extra_lambda = 0.2 + 0.020 * 0.25 * 13.3334
    assert naive.by_service["lambda"] == pytest.approx(built.by_service["lambda"] + extra_lambda, abs=1e-4)
    assert naive.by_service["dynamodb"] == built.by_service["dynamodb"]
    assert naive.total > built.total


def test_standard_transitions_of_the_built_design_are_paid_too() -> None:
    cost = cost_per_million(
        usage(express_executions=0, express_billed_seconds=0.0, standard_transitions=8), PRICES
    )

    assert cost.by_service["step_functions"] == pytest.approx(8 * 25.0)


def test_the_price_table_in_the_repository_names_region_date_and_source_for_every_price() -> None:
    import json

    from agenthub.bench.costs import PRICES as TABLE

    table = json.loads(TABLE.read_text())
    assert table["region"] == "us-east-1"
    assert table["checked"]
    assert all(entry["source"].startswith("https://aws.amazon.com/") for entry in table["prices"].values())
    assert set(load_prices()) == set(PRICES)
