"""`agenthub redrive` against a deployed stack, found by name through CloudFormation (stubbed)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from agenthub.redrive import DeadLetterQueue, DeployedStack, RedriveError, redrive

NESTED = "arn:aws:cloudformation:us-east-1:123456789012:stack/hub-PreprocessSubscriber-1A2B/uuid"
URL = "https://sqs.us-east-1.amazonaws.com/123456789012/hub-PreprocessSubscriber-1A2B-DeadLetterQueue-9Z"
ARN = "arn:aws:sqs:us-east-1:123456789012:hub-PreprocessSubscriber-1A2B-DeadLetterQueue-9Z"


def clients() -> tuple[Any, Any]:
    return (
        boto3.client("cloudformation", region_name="us-east-1"),
        boto3.client("sqs", region_name="us-east-1"),
    )


def resource(logical_id: str, physical_id: str, resource_type: str) -> dict[str, Any]:
    return {
        "StackResourceDetail": {
            "LogicalResourceId": logical_id,
            "PhysicalResourceId": physical_id,
            "ResourceType": resource_type,
            "LastUpdatedTimestamp": "2026-01-01T00:00:00Z",
            "ResourceStatus": "CREATE_COMPLETE",
        }
    }


def test_a_subscribers_dead_letter_queue_is_found_through_its_nested_stack_and_redriven() -> None:
    cloudformation, sqs = clients()
    with Stubber(cloudformation) as stacks, Stubber(sqs) as queues:
        stacks.add_response(
            "describe_stack_resource",
            resource("PreprocessSubscriber", NESTED, "AWS::CloudFormation::Stack"),
            {"StackName": "hub", "LogicalResourceId": "PreprocessSubscriber"},
        )
        stacks.add_response(
            "describe_stack_resource",
            resource("DeadLetterQueue", URL, "AWS::SQS::Queue"),
            {"StackName": NESTED, "LogicalResourceId": "DeadLetterQueue"},
        )
        queues.add_response(
            "get_queue_attributes", {"Attributes": {"QueueArn": ARN, "ApproximateNumberOfMessages": "2"}}
        )
        queues.add_response("start_message_move_task", {"TaskHandle": "task-1"}, {"SourceArn": ARN})
        queues.add_response(
            "list_message_move_tasks", {"Results": [{"TaskHandle": "task-1", "Status": "RUNNING"}]}
        )
        queues.add_response(
            "list_message_move_tasks",
            {
                "Results": [
                    {"TaskHandle": "task-1", "Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 2}
                ]
            },
        )

        (found,) = DeployedStack("hub", cloudformation, sqs).find("PreprocessSubscriber.DeadLetterQueue")
        moved = redrive(sqs, found, sleep=lambda _: None)

    assert found == DeadLetterQueue(ARN.rsplit(":", 1)[-1], URL, ARN, 2)
    assert (moved.status, moved.moved) == ("COMPLETED", 2)


def test_an_empty_dead_letter_queue_is_not_redriven() -> None:
    _, sqs = clients()
    with Stubber(sqs):  # any call would fail: none is expected
        moved = redrive(sqs, DeadLetterQueue("dlq", URL, ARN, 0))

    assert (moved.status, moved.moved) == ("EMPTY", 0)


def test_a_subscriber_the_stack_does_not_have_is_a_clear_error() -> None:
    cloudformation, sqs = clients()
    with Stubber(cloudformation) as stacks:
        stacks.add_client_error("describe_stack_resource", "ValidationError", "Resource Nope does not exist")

        with pytest.raises(RedriveError, match="stack hub has no subscriber Nope"):
            DeployedStack("hub", cloudformation, sqs).find("Nope")
