"""Cancel a customization: stop its training job and its execution, then say so on the hub.

Fed by a filtered subscription to `request.cancel_requested` for customize requests. The job's
name and the execution's name both derive from the request id, so nothing needs to be looked up;
whichever of them does not exist (yet, or any more) is simply not running.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from botocore.exceptions import ClientError

from customization.plan_job import job_name
from shared import aws
from shared.config import Settings, load_settings
from shared.contracts import FINAL_STAGE, Outcome, stage_event
from shared.hub import HubEvent, HubPublisher, new_event, parse_notification
from shared.observability import logger, metrics, tracer
from shared.pipeline_trigger import execution_name

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

STAGE = FINAL_STAGE["customize"]
# Codes that mean "there is nothing (left) to stop".
_NOT_RUNNING = {
    "ResourceNotFoundException",
    "ResourceNotFound",
    "ValidationException",
    "ExecutionDoesNotExist",
    "ConflictException",
}


class CancelSettings(Settings):
    STATE_MACHINE_ARN: str
    HUB_TOPIC_ARN: str
    DATA_LAKE_BUCKET: str


class Canceller:
    def __init__(self, settings: CancelSettings, hub: HubPublisher) -> None:
        self._settings = settings
        self._hub = hub

    def _stopped(self, call: Any, **kwargs: Any) -> bool:
        try:
            call(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] in _NOT_RUNNING:
                return False
            raise
        return True

    def cancel(self, event: HubEvent) -> None:
        name = job_name(event.request_id)
        execution = self._settings.STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")
        stopped = {
            "bedrock_job": self._stopped(
                aws.client("bedrock").stop_model_customization_job, jobIdentifier=name
            ),
            "sagemaker_job": self._stopped(aws.client("sagemaker").stop_training_job, TrainingJobName=name),
            "execution": self._stopped(
                aws.stepfunctions().stop_execution,
                executionArn=f"{execution}:{execution_name(event.request_id, STAGE)}",
                error="RequestCancelled",
                cause="the caller cancelled the request",
            ),
        }
        self._hub.publish(
            new_event(
                event_type=stage_event(STAGE, Outcome.CANCELLED),
                request_id=event.request_id,
                pipeline=event.pipeline,
                source="customization",
                subject=event.subject,
                payload={"job_name": name, "stopped": stopped},
            )
        )
        logger.info("customization cancelled", extra={"request_id": event.request_id, "stopped": stopped})
        metrics.add_metric(name="CustomizationsCancelled", unit=MetricUnit.Count, value=1)


@cache
def canceller() -> Canceller:
    settings = load_settings(CancelSettings)
    return Canceller(
        settings, HubPublisher(settings.HUB_TOPIC_ARN, settings.DATA_LAKE_BUCKET, aws.sns(), aws.s3())
    )


processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    canceller().cancel(parse_notification(record.body))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
