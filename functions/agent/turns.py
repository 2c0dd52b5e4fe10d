"""Between two model calls of an agent run: fold the tools' answers into the conversation; at the
end, build the request's result. Pure steps over the run's state (`agent.conversation`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, Field, TypeAdapter

from agent.conversation import Run, finish, fold_answers
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


class Fold(BaseModel):
    """The model asked for tools and they answered (or failed, or never did)."""

    step: Literal["fold"]
    run: Run
    reply: dict[str, Any]
    answers: list[dict[str, Any]]


class Finish(BaseModel):
    """The run ends: the model answered, or the run reached its turns or its time budget."""

    step: Literal["finish"]
    run: Run
    reply: dict[str, Any]
    stop_reason: Literal["end_turn", "max_turns", "time_budget", "max_tokens", "stop_sequence"]


Step = Annotated[Fold | Finish, Field(discriminator="step")]
_steps: TypeAdapter[Fold | Finish] = TypeAdapter(Step)


def take(step: Fold | Finish) -> dict[str, Any]:
    if isinstance(step, Fold):
        run = fold_answers(step.run, step.reply, step.answers)
        metrics.add_metric(name="ToolCallsAnswered", unit=MetricUnit.Count, value=len(step.answers))
        logger.info("agent turn done", extra={"request_id": run.request.request_id, "turn": run.turn})
        return run.model_dump(mode="json")
    result = finish(step.run, step.reply, step.stop_reason)
    logger.info(
        "agent run finished",
        extra={"request_id": step.run.request.request_id, "stop_reason": step.stop_reason},
    )
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return take(_steps.validate_python(event))
