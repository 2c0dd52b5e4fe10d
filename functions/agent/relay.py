"""Hand a tool's answer to the agent run waiting for it (`agent.tool_calls`): a hub subscriber."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from agent.tool_calls import PendingCalls, pending_calls
from contracts.tools import ToolAnswer
from shared import aws
from shared.config import LakeSettings, load_settings
from shared.hub import HubEvent, load_payload
from shared.observability import logger, metrics
from shared.subscriber import hub_subscriber

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient


class RelaySettings(LakeSettings):
    AGENT_RUNS_TABLE: str


def relay(event: HubEvent, calls: PendingCalls, sfn: SFNClient, s3: S3Client) -> None:
    """Hands a tool's answer to the run waiting for it; a second or late answer resumes nothing."""
    answer = ToolAnswer.model_validate(load_payload(event, s3))
    waiting = calls.waiting(answer.call_id)
    if waiting is None or not answer.call_id.startswith(f"{event.request_id}#"):
        logger.warning("an answer to no call of this agent", extra={"call_id": answer.call_id})
        metrics.add_metric(name="ToolAnswersUnmatched", unit=MetricUnit.Count, value=1)
        return
    output = {
        "ToolUseId": waiting["tool_use_id"],
        "tool": answer.tool,
        "status": answer.status,
        "text": answer.text,
        "duration_ms": answer.duration_ms,
    }
    try:
        sfn.send_task_success(taskToken=waiting["token"], output=json.dumps(output))
    except (sfn.exceptions.TaskDoesNotExist, sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken):
        # Answered before (a redelivery), or too late (the wait timed out, the run was cancelled).
        logger.info("the run no longer waits for this call", extra={"call_id": answer.call_id})
        metrics.add_metric(name="ToolAnswersLate", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="ToolAnswersRelayed", unit=MetricUnit.Count, value=1)


lambda_handler = hub_subscriber(
    lambda event: relay(
        event, pending_calls(load_settings(RelaySettings).AGENT_RUNS_TABLE), aws.stepfunctions(), aws.s3()
    )
)
