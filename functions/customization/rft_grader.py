"""The default reward function for reinforcement fine-tuning: a normalised match against the
record's `reference_answer`.

The contract is the service's, so any Lambda that keeps it can replace this one (the template's
`RftGraderFunctionArn`): Bedrock sends a batch of samples, each the training record with the
model's answer appended as the last assistant turn and an `id`; the function answers, for every
sample, its `id`, an `aggregate_reward_score` (the reward, here 0.0-1.0) and a `metrics_list`.
https://docs.aws.amazon.com/bedrock/latest/userguide/reward-functions.html
https://docs.aws.amazon.com/sagemaker/latest/dg/nova-implementing-reward-functions.html

Scoring: 1.0 when the answer, normalised (Unicode NFKC, case-folded, punctuation and extra spaces
dropped), equals the normalised reference; 0.5 when the reference appears in it as whole words; 0.0
otherwise. A structured reference (an object) is compared by its `answer`, `solution` or `final`
field, or else by its text fields joined.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

EXACT, CONTAINED, MISSED = 1.0, 0.5, 0.0
ANSWER_FIELDS = ("answer", "solution", "final")
_PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: Any = ""


class Sample(BaseModel):
    """One rollout: the training record, the model's answer appended, and the id to answer with."""

    model_config = ConfigDict(extra="allow")

    id: str
    messages: list[Message] = Field(min_length=1)
    reference_answer: Any = None


_samples: TypeAdapter[list[Sample]] = TypeAdapter(list[Sample])


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCTUATION.sub(" ", folded).split())


def reference_text(reference: Any) -> str:
    if isinstance(reference, dict):
        for name in ANSWER_FIELDS:
            if name in reference:
                return reference_text(reference[name])
        return " ".join(reference_text(value) for value in reference.values() if isinstance(value, str))
    if isinstance(reference, str):
        return reference
    return json.dumps(reference)  # a number, a list: compared as written


def answer_text(sample: Sample) -> str:
    """The model's answer: the last assistant turn (its content a string or a list of text blocks)."""
    last = sample.messages[-1]
    if last.role != "assistant":
        return ""
    if isinstance(last.content, list):
        return " ".join(str(block.get("text", "")) for block in last.content if isinstance(block, dict))
    return str(last.content)


def score(sample: Sample) -> dict[str, Any]:
    answer, reference = normalise(answer_text(sample)), normalise(reference_text(sample.reference_answer))
    if reference and answer == reference:
        reward = EXACT
    elif reference and f" {reference} " in f" {answer} ":
        reward = CONTAINED
    else:
        reward = MISSED
    return {
        "id": sample.id,
        "aggregate_reward_score": reward,
        "metrics_list": [
            {"name": "exact_match", "value": float(reward == EXACT), "type": "Metric"},
            {"name": "reference_found", "value": float(reward >= CONTAINED), "type": "Metric"},
        ],
    }


def grade(batch: Any) -> list[dict[str, Any]]:
    """Scores a batch of samples (or a single sample, as a list of one)."""
    samples = _samples.validate_python(batch if isinstance(batch, list) else [batch])
    scores = [score(sample) for sample in samples]
    metrics.add_metric(name="RftSamplesGraded", unit=MetricUnit.Count, value=len(scores))
    logger.info(
        "samples graded",
        extra={
            "samples": len(scores),
            "rewarded": sum(1 for item in scores if item["aggregate_reward_score"]),
        },
    )
    return scores


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> list[dict[str, Any]]:
    return grade(event)
