"""Validate the datasets: every dataset a customization plan names, streamed from the lake.

Input: `{"plan": ...}` from the planning step. Output: one report per dataset and whether all are
valid; the state machine starts no job unless they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from contracts.customization import DATASETS_PREFIX, Method
from customization.dataset_rules import validate_object
from shared import aws
from shared.config import LakeSettings, load_settings
from shared.hub import split_s3_uri
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


class ValidateSettings(LakeSettings):
    DATASET_MAX_BYTES: int = Field(gt=0)


class DatasetOutsideTheLake(ValueError):
    """The plan names a dataset that is not a caller's upload in the data lake: never read."""


class DatasetRef(BaseModel):
    role: str
    uri: str


class PlanRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    method: Method
    datasets: list[DatasetRef]


class ValidateTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    plan: PlanRef


def validate(task: ValidateTask) -> dict[str, Any]:
    settings = load_settings(ValidateSettings)
    reports = []
    for dataset in task.plan.datasets:
        bucket, key = split_s3_uri(dataset.uri)
        if bucket != settings.DATA_LAKE_BUCKET or not key.startswith(DATASETS_PREFIX):
            raise DatasetOutsideTheLake(
                f"the {dataset.role} dataset is not under the data lake's {DATASETS_PREFIX}"
            )
        report = validate_object(aws.s3(), bucket, key, task.plan.method, settings.DATASET_MAX_BYTES)
        reports.append({"role": dataset.role, "uri": dataset.uri, **report.as_dict()})
    valid = all(report["valid"] for report in reports)
    metrics.add_metric(name="DatasetsValid" if valid else "DatasetsInvalid", unit=MetricUnit.Count, value=1)
    logger.info(
        "datasets validated", extra={"valid": valid, "records": [report["records"] for report in reports]}
    )
    return {"valid": valid, "reports": reports}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return validate(ValidateTask.model_validate(event))
