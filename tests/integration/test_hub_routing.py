"""The hub's filter policies, from template.yaml, route each event to exactly the queues that want it."""

from __future__ import annotations

import pytest

from agenthub.local.deploy import Stack
from shared.hub import HubPublisher, new_event
from tests.support.events import api_event
from tests.support.moto_stack import FunctionRunner, client, drain, hub_messages

SUBSCRIBERS = (
    "CoreWriterSubscriber",
    "PreprocessSubscriber",
    "InvokeSubscriber",
    "CustomizeSubscriber",
    "ProcessingCancelSubscriber",
    "CustomizationCancelSubscriber",
)


def publish(stack: Stack, event_type: str, pipeline: str, first_stage: str | None = None) -> str:
    event = new_event(
        event_type=event_type,
        request_id=f"{event_type}-{pipeline}-{first_stage}",
        pipeline=pipeline,
        source="test",
        subject="ada",
        payload={},
        first_stage=first_stage,
    )
    HubPublisher(
        stack.ref("AgentCoreTopic"), stack.ref("DataLakeBucket"), client("sns"), client("s3")
    ).publish(event)
    return event.event_id


def receivers(stack: Stack) -> dict[str, list[str]]:
    return {
        subscriber: [event["event_type"] for event in hub_messages(drain(stack.ref(f"{subscriber}.Queue")))]
        for subscriber in SUBSCRIBERS
    }


@pytest.mark.parametrize(
    ("event_type", "pipeline", "first_stage", "expected"),
    [
        ("request.accepted", "preprocess", "preprocess", {"CoreWriterSubscriber", "PreprocessSubscriber"}),
        ("request.accepted", "invoke", "invoke", {"CoreWriterSubscriber", "InvokeSubscriber"}),
        ("request.accepted", "invoke", "preprocess", {"CoreWriterSubscriber", "PreprocessSubscriber"}),
        ("preprocess.started", "preprocess", None, {"CoreWriterSubscriber"}),
        ("preprocess.completed", "preprocess", None, {"CoreWriterSubscriber"}),
        ("preprocess.completed", "invoke", None, {"CoreWriterSubscriber", "InvokeSubscriber"}),
        ("preprocess.failed", "invoke", None, {"CoreWriterSubscriber"}),
        ("invoke.started", "invoke", None, {"CoreWriterSubscriber"}),
        ("invoke.completed", "invoke", None, {"CoreWriterSubscriber"}),
        ("invoke.failed", "invoke", None, {"CoreWriterSubscriber"}),
        ("request.cancel_requested", "invoke", None, {"ProcessingCancelSubscriber"}),
        ("request.cancel_requested", "preprocess", None, {"ProcessingCancelSubscriber"}),
        ("request.cancel_requested", "customize", None, {"CustomizationCancelSubscriber"}),
        ("request.accepted", "customize", "customization", {"CoreWriterSubscriber", "CustomizeSubscriber"}),
        ("customization.progress", "customize", None, {"CoreWriterSubscriber"}),
        ("customization.completed", "customize", None, {"CoreWriterSubscriber"}),
        ("customization.cancelled", "customize", None, {"CoreWriterSubscriber"}),
        ("invoke.cancelled", "invoke", None, {"CoreWriterSubscriber"}),
    ],
)
def test_each_event_reaches_exactly_the_queues_that_subscribe_to_it(
    stack: Stack, event_type: str, pipeline: str, first_stage: str | None, expected: set[str]
) -> None:
    publish(stack, event_type, pipeline, first_stage)

    delivered = receivers(stack)

    assert {queue for queue, events in delivered.items() if events} == expected
    assert all(len(events) == 1 for queue, events in delivered.items() if queue in expected)


def test_a_request_for_an_unknown_pipeline_never_reaches_the_hub(
    stack: Stack, functions: FunctionRunner
) -> None:
    event = api_event("front_door/post_request_invoke.json", body={"pipeline": "summarise", "input": {}})

    response = functions.invoke("FrontDoorFunction", event)

    assert response["statusCode"] == 400
    assert receivers(stack) == {queue: [] for queue in SUBSCRIBERS}
