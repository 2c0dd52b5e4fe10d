"""What a million requests cost on AWS, from what one request was counted doing in the local cloud.

Prices come from bench/prices.json (region, date and source page of each). Model tokens are priced
apart and not included. Two figures are modelled rather than counted, and say so: KMS, whose
calls SNS makes inside AWS for the encrypted hub topic, and the naive design the README compares
against. SNS reuses a data key for up to 5 minutes per publishing principal, so its KMS requests
are a monthly amount per principal, not per publish (R = B / D * 2P, "Estimating AWS KMS costs",
https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html); per million requests it is
that month's amount spread over a month of a million requests.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from agenthub import PROJECT_ROOT

PRICES = PROJECT_ROOT / "bench" / "prices.json"
MILLION = 1_000_000
# Express bills memory in 64 MB chunks; these workflows' definitions and states are a few KB, so
# they stay in the first chunk (Step Functions pricing: 50 MB + definition + data, rounded up).
EXPRESS_BILLED_GB = 64 / 1024
# The naive design's extra task Lambdas (one per SDK-integration step) get the template's default memory.
NAIVE_TASK_MEMORY_MB = 256
# SNS's KMS formula: a 30-day month (B), its data key reuse period (D), GenerateDataKey and Decrypt.
MONTH_SECONDS = 30 * 24 * 3600
SNS_DATA_KEY_REUSE_SECONDS = 300
KMS_REQUESTS_PER_REUSE_PERIOD = 2
REQUESTS_PER_MONTH = MILLION  # the volume the monthly KMS amount is spread over


def kms_requests_per_request(publishers: int) -> float:
    """The hub topic's KMS requests, per request, at a month of REQUESTS_PER_MONTH requests."""
    monthly = MONTH_SECONDS / SNS_DATA_KEY_REUSE_SECONDS * KMS_REQUESTS_PER_REUSE_PERIOD * publishers
    return monthly / REQUESTS_PER_MONTH


class MissingPrice(KeyError):
    """The cost arithmetic needs a price the table does not have."""


class Prices(dict[str, float]):
    def __missing__(self, name: str) -> float:
        raise MissingPrice(
            f"bench/prices.json has no price {name!r}: add it, with its region, date and source"
        )


def load_prices(path: Path = PRICES) -> Prices:
    table = json.loads(path.read_text())
    return Prices({name: float(entry["usd"]) for name, entry in table["prices"].items()})


@dataclass(frozen=True)
class LambdaUse:
    invocations: int
    billed_ms: float  # every invocation's duration rounded up to 1 ms, added up
    memory_mb: int


@dataclass(frozen=True)
class Usage:
    """What one request made AWS do, counted in the local cloud."""

    api_requests: int
    lambdas: dict[str, LambdaUse]
    dynamodb_write_units: int
    dynamodb_reads: int
    sns_publishes: int
    sqs_requests: int
    s3_writes: int
    s3_reads: int
    express_executions: int
    express_billed_seconds: float  # each execution rounded up to 100 ms, added up
    standard_transitions: int
    all_transitions: int
    sdk_task_states: int  # Task states served by an SDK integration rather than a Lambda
    log_bytes: int
    lambda_task_ms: float = 0.0  # mean duration of the state machines' own Lambda tasks
    hub_publishers: int = 0  # IAM roles that may publish to the hub topic (SNS's principals)


@dataclass(frozen=True)
class Cost:
    total: float
    by_service: dict[str, float] = field(default_factory=dict)


def _lambda_cost(lambdas: dict[str, LambdaUse], prices: dict[str, float]) -> float:
    return sum(
        use.invocations * prices["lambda_arm64_request"]
        + use.billed_ms / 1000 * use.memory_mb / 1024 * prices["lambda_arm64_gb_second"]
        for use in lambdas.values()
    )


def _common(usage: Usage, prices: dict[str, float]) -> dict[str, float]:
    """Everything but Step Functions and Lambda, which the two designs do differently."""
    return {
        "api_gateway": usage.api_requests * prices["api_gateway_rest_request"],
        "dynamodb": usage.dynamodb_write_units * prices["dynamodb_on_demand_write_unit"]
        + usage.dynamodb_reads * prices["dynamodb_on_demand_read_unit"],
        "sns": usage.sns_publishes * prices["sns_publish"],
        "sqs": usage.sqs_requests * prices["sqs_request"],
        "s3": usage.s3_writes * prices["s3_standard_write_request"]
        + usage.s3_reads * prices["s3_standard_read_request"],
        "kms": kms_requests_per_request(usage.hub_publishers) * prices["kms_request"],
        "cloudwatch_logs": usage.log_bytes / 1024**3 * prices["cloudwatch_logs_ingestion_gb"],
    }


def _per_million(parts: dict[str, float]) -> Cost:
    by_service = {name: round(value * MILLION, 4) for name, value in parts.items()}
    return Cost(round(sum(parts.values()) * MILLION, 4), by_service)


def cost_per_million(usage: Usage, prices: dict[str, float]) -> Cost:
    """The hub as built: Express workflows, SDK integrations where no code is needed."""
    return _per_million(
        {
            **_common(usage, prices),
            "lambda": _lambda_cost(usage.lambdas, prices),
            "step_functions": usage.express_executions * prices["step_functions_express_request"]
            + usage.express_billed_seconds * EXPRESS_BILLED_GB * prices["step_functions_express_gb_second"]
            + usage.standard_transitions * prices["step_functions_standard_transition"],
        }
    )


def naive_cost_per_million(usage: Usage, prices: dict[str, float]) -> Cost:
    """The same work as a Standard workflow with a Lambda per step: every state transition is paid
    for, and every SDK-integration step becomes a Lambda as long as the pipeline's own task Lambdas
    (without the time a Lambda would spend waiting on the model, so this is a lower bound)."""
    extra = LambdaUse(
        invocations=usage.sdk_task_states,
        billed_ms=usage.sdk_task_states * math.ceil(usage.lambda_task_ms),
        memory_mb=NAIVE_TASK_MEMORY_MB,
    )
    return _per_million(
        {
            **_common(usage, prices),
            "lambda": _lambda_cost({**usage.lambdas, "naive-sdk-steps": extra}, prices),
            "step_functions": usage.all_transitions * prices["step_functions_standard_transition"],
        }
    )
