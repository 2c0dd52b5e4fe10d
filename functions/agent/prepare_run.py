"""Prepare an agent run: the model, the tools on offer, the session's history and the time budget.

Input: the hub event that started the pipeline. Output: the run's state (`agent.conversation.Run`)
for the state machine to carry from turn to turn.
"""

from __future__ import annotations

import time
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field, ValidationError

from agent.conversation import start
from contracts.catalog import CustomModels, ToolRegistry
from contracts.requests import AgentInput
from shared import aws
from shared.config import CommaList, LakeSettings, load_settings
from shared.hub import HubEvent, HubEventTask, RequestRef, load_payload
from shared.memory import MemoryReader
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client


class PrepareRunSettings(LakeSettings):
    CATALOG_TABLE: str
    AGENT_MEMORY_TABLE: str
    ALLOWED_MODEL_IDS: CommaList
    DEFAULT_MODEL_ID: str
    MEMORY_TURNS: int = Field(default=10, ge=0, le=50)
    AGENT_TIME_BUDGET_SECONDS: int = Field(gt=0)


class InvalidAgentRequest(ValueError):
    """The run cannot start as asked (a model or tool no longer allowed); retrying will not help."""


class RunSources:
    def __init__(
        self, s3: S3Client, registry: ToolRegistry, memory: MemoryReader, models: CustomModels
    ) -> None:
        self._s3 = s3
        self.registry = registry
        self.memory = memory
        self.models = models

    def payload(self, event: HubEvent) -> dict[str, Any]:
        return load_payload(event, self._s3)


def prepare(event: HubEvent, sources: RunSources, settings: PrepareRunSettings) -> dict[str, Any]:
    try:
        request = AgentInput.model_validate(sources.payload(event).get("input"))
    except ValidationError as error:
        raise InvalidAgentRequest(f"the agent input is invalid: {error.errors(include_url=False)}") from error
    if request.custom_model is not None:
        # The caller's own deployed model: Converse takes its deployment's ARN as the model id.
        model = sources.models.deployed(event.subject, request.custom_model)
        if model is None or model.deployment_arn is None:
            raise InvalidAgentRequest(f"this caller has no deployed model named {request.custom_model!r}")
        model_id = model.deployment_arn
    else:
        model_id = request.model_id or settings.DEFAULT_MODEL_ID
        if model_id not in settings.ALLOWED_MODEL_IDS:
            raise InvalidAgentRequest(f"model {model_id!r} is not one of the allowed models")
    registered = sources.registry.available()
    wanted = request.tools if request.tools is not None else sorted(registered)
    # A tool withdrawn since the request was accepted is simply not offered: the model works without it.
    tools = [registered[name] for name in wanted if name in registered]
    inference = request.inference.for_converse()
    # The caller may ask for less time than the stack allows, never more.
    budget_seconds = min(
        request.time_budget_seconds or settings.AGENT_TIME_BUDGET_SECONDS, settings.AGENT_TIME_BUDGET_SECONDS
    )
    run = start(
        request=RequestRef(request_id=event.request_id, pipeline=event.pipeline, subject=event.subject),
        model_id=model_id,
        prompt=request.prompt,
        system_prompt=request.system_prompt,
        session_id=request.session_id,
        inference=inference,
        max_turns=request.max_turns,
        deadline_ms=int(time.time() * 1000) + budget_seconds * 1000,
        tools=tools,
        turns=sources.memory.latest_turns(event.subject, request.session_id),
    )
    logger.info(
        "agent run prepared",
        extra={"request_id": event.request_id, "tools": [tool.name for tool in tools], "model_id": model_id},
    )
    metrics.add_metric(name="AgentRunsPrepared", unit=MetricUnit.Count, value=1)
    return run.model_dump(mode="json")


@cache
def sources() -> RunSources:
    settings = load_settings(PrepareRunSettings)
    dynamodb = aws.dynamodb()
    return RunSources(
        aws.s3(),
        ToolRegistry(settings.CATALOG_TABLE, dynamodb),
        MemoryReader(settings.AGENT_MEMORY_TABLE, dynamodb, settings.MEMORY_TURNS),
        CustomModels(settings.CATALOG_TABLE, dynamodb),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return prepare(HubEventTask.model_validate(event).event, sources(), load_settings(PrepareRunSettings))
