"""Cancel a customization: mark it cancelled, stop its training job, and make sure it is announced.

Fed by a filtered subscription to `request.cancel_requested` for customize requests. The mark
keeps the trigger from starting the request and tells a running execution, which checks for it
before it starts a job and after every check on the job, to stop the job and announce
`customization.cancelled` itself. The job is also stopped here at once, so it does not train
until the next check. When no execution is running yet, this announces the cancellation.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from contracts.events import Outcome, Stage, stage_event
from pipeline_kit.cancellation import CancellationMarks, CancellationSettings
from shared import aws
from shared.config import load_settings
from shared.hub import HubEvent, HubPublisher, new_event
from shared.naming import execution_name, job_name
from shared.observability import logger, metrics
from shared.subscriber import hub_subscriber

STAGE = Stage.CUSTOMIZATION


class CustomizationCancelSettings(CancellationSettings):
    STATE_MACHINE_ARN: str


class Canceller:
    def __init__(
        self, settings: CustomizationCancelSettings, hub: HubPublisher, cancellations: CancellationMarks
    ) -> None:
        self._settings = settings
        self._hub = hub
        self._cancellations = cancellations

    @staticmethod
    def _stop_bedrock_job(name: str) -> bool:
        bedrock = aws.bedrock()
        try:
            bedrock.stop_model_customization_job(jobIdentifier=name)
        except (
            bedrock.exceptions.ResourceNotFoundException,  # never started
            bedrock.exceptions.ValidationException,  # already ended
            bedrock.exceptions.ConflictException,  # already stopping
        ):
            return False
        return True

    @staticmethod
    def _stop_training_job(name: str) -> bool:
        sagemaker = aws.sagemaker()
        try:
            sagemaker.stop_training_job(TrainingJobName=name)
        except sagemaker.exceptions.ResourceNotFound:
            return False  # never started
        except ClientError as error:
            # A job that already ended: SageMaker's model has no class for its ValidationException.
            if error.response["Error"]["Code"] == "ValidationException":
                return False
            raise
        return True

    def _execution_status(self, request_id: str) -> str | None:
        execution = self._settings.STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")
        sfn = aws.stepfunctions()
        try:
            described = sfn.describe_execution(
                executionArn=f"{execution}:{execution_name(request_id, STAGE)}"
            )
        except sfn.exceptions.ExecutionDoesNotExist:
            return None
        return described["status"]

    def cancel(self, event: HubEvent) -> None:
        self._cancellations.mark(event.request_id)
        name = job_name(event.request_id)
        stopped = {
            "bedrock_job": self._stop_bedrock_job(name),
            "sagemaker_job": self._stop_training_job(name),
        }
        status = self._execution_status(event.request_id)
        logger.info(
            "customization cancelled", extra={"request_id": event.request_id, "execution": status, **stopped}
        )
        metrics.add_metric(name="CustomizationsCancelled", unit=MetricUnit.Count, value=1)
        if status is None:
            # No execution yet, and the mark keeps one from starting: nobody else will announce it.
            self._hub.publish(
                new_event(
                    event_type=stage_event(STAGE, Outcome.CANCELLED),
                    request_id=event.request_id,
                    pipeline=event.pipeline,
                    source="customization",
                    subject=event.subject,
                    payload={"job_name": name, "stopped_before_it_started": True},
                )
            )


@cache
def canceller() -> Canceller:
    settings = load_settings(CustomizationCancelSettings)
    return Canceller(
        settings,
        HubPublisher.for_topic(settings.HUB_TOPIC_ARN, settings.DATA_LAKE_BUCKET),
        CancellationMarks(settings.STARTS_TABLE, aws.dynamodb()),
    )


lambda_handler = hub_subscriber(lambda event: canceller().cancel(event))
