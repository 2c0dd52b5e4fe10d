"""Pipeline trigger: starts a stage's state machine for each hub message its subscription delivers.

It publishes nothing and calls no other microservice: the state machine announces its own
progress on the hub. Each start is deduplicated on (request id, stage) with Powertools
Idempotency, because Express workflows do not deduplicate starts by name the way Standard ones
do; the execution name is still derived from the request id, so a Standard workflow's
`ExecutionAlreadyExists` is treated as the start it is.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from pydantic import Field

from contracts.events import REQUEST_ACCEPTED, Outcome, Stage, stage_event
from pipeline_kit.cancellation import CancellationMarks
from shared import aws
from shared.config import Settings, load_settings
from shared.hub import HubEvent
from shared.naming import execution_name
from shared.observability import logger, metrics
from shared.subscriber import hub_subscriber

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_stepfunctions import SFNClient

# After a stage hands a request on, the next stage it may come from (chained requests).
PREVIOUS_STAGE: dict[str, Stage] = {Stage.INVOKE: Stage.PREPROCESS}


class TriggerSettings(Settings):
    STATE_MACHINE_ARN: str
    PIPELINE_STAGE: str
    STARTS_TABLE: str
    # SQS keeps a message at most 14 days: no redelivery can come later than that.
    START_DEDUPE_SECONDS: int = Field(default=14 * 86_400, gt=0)


class MisroutedEvent(ValueError):
    """The subscription delivered an event this stage does not start on (a filter policy bug)."""


def starts_stage(stage: str, event: HubEvent) -> bool:
    if event.event_type == REQUEST_ACCEPTED:
        return event.first_stage == stage
    previous = PREVIOUS_STAGE.get(stage)
    return previous is not None and event.event_type == stage_event(previous, Outcome.COMPLETED)


class PipelineStarter:
    def __init__(
        self,
        settings: TriggerSettings,
        sfn: SFNClient,
        persistence: DynamoDBPersistenceLayer,
        cancellations: CancellationMarks,
    ) -> None:
        self._settings = settings
        self._sfn = sfn
        self._cancellations = cancellations
        self.idempotency = IdempotencyConfig(
            event_key_jmespath="[request_id, stage]",
            expires_after_seconds=settings.START_DEDUPE_SECONDS,
            raise_on_no_idempotency_key=True,
        )
        self._start_once = idempotent_function(
            data_keyword_argument="start", config=self.idempotency, persistence_store=persistence
        )(self._start)

    @classmethod
    def from_environment(cls) -> PipelineStarter:
        settings = load_settings(TriggerSettings)
        persistence = DynamoDBPersistenceLayer(table_name=settings.STARTS_TABLE, boto3_client=aws.dynamodb())
        return cls(
            settings,
            aws.stepfunctions(),
            persistence,
            CancellationMarks(settings.STARTS_TABLE, aws.dynamodb()),
        )

    def start(self, event: HubEvent) -> str | None:
        """The execution's ARN, or None when the caller cancelled the request before it started."""
        stage = self._settings.PIPELINE_STAGE
        if not starts_stage(stage, event):
            raise MisroutedEvent(
                f"the {stage} trigger does not start on {event.event_type} ({event.event_id})"
            )
        if self._cancellations.is_marked(event.request_id):
            logger.info("cancelled before it started", extra={"request_id": event.request_id, "stage": stage})
            return None
        started = self._start_once(
            start={"request_id": event.request_id, "stage": stage, "event": event.model_dump(mode="json")}
        )
        return str(started["execution_arn"])

    def _start(self, start: dict[str, Any]) -> dict[str, str]:
        name = execution_name(start["request_id"], start["stage"])
        state_machine = self._settings.STATE_MACHINE_ARN
        # The hub claim-checks any envelope over 32 KiB, so the execution's input stays small; it is
        # encoded as UTF-8 (not \u escapes), which is how Step Functions counts its 256 KiB.
        execution_input = json.dumps({"event": start["event"]}, ensure_ascii=False, separators=(",", ":"))
        try:
            arn = self._sfn.start_execution(stateMachineArn=state_machine, name=name, input=execution_input)[
                "executionArn"
            ]
        except self._sfn.exceptions.ExecutionAlreadyExists:
            arn = state_machine.replace(":stateMachine:", ":execution:") + f":{name}"
            logger.info("execution already exists", extra={"execution": name})
        logger.info("pipeline started", extra={"request_id": start["request_id"], "execution": name})
        metrics.add_metric(name="PipelinesStarted", unit=MetricUnit.Count, value=1)
        return {"execution_arn": arn, "name": name}


@cache
def starter() -> PipelineStarter:
    return PipelineStarter.from_environment()


def _register_context(context: LambdaContext) -> None:
    # An in-progress start record expires with this invocation, so a crash mid-start can be retried.
    starter().idempotency.register_lambda_context(context)


# Settings load on the first invocation rather than at import: importing the module needs no environment.
lambda_handler = hub_subscriber(lambda event: starter().start(event), before=_register_context)
