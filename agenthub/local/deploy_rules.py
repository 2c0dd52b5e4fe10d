"""Rules AWS applies when it creates a resource, which moto does not: checked as each one is created.

A local override or a template change that AWS would refuse must fail here first, at start-up,
naming the rule (the deployer names the resource), rather than pass every local test and fail
`sam deploy`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agenthub.iam.roles import role_named_by, role_policies

if TYPE_CHECKING:
    from agenthub.local.deploy import Stack

LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4 * 1024
SQS_DEFAULT_VISIBILITY_SECONDS = 30
SQS_BATCH_WITHOUT_WINDOW = 10
SQS_POLLER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
LOG_DELIVERY_ACTIONS = ("logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery")


class DeployRuleBroken(ValueError):
    """AWS would refuse to create this resource as it is; the message names the rule."""


def check_function_environment(variables: dict[str, str]) -> None:
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html (4 KB, keys and values)
    size = sum(len(key.encode()) + len(value.encode()) for key, value in variables.items())
    if size > LAMBDA_ENVIRONMENT_LIMIT_BYTES:
        raise DeployRuleBroken(
            f"its environment variables take {size} bytes; Lambda allows "
            f"{LAMBDA_ENVIRONMENT_LIMIT_BYTES} in all"
        )


def check_sqs_event_source(
    stack: Stack, properties: dict[str, Any], function_timeout: int, role_arn: str
) -> None:
    """What CreateEventSourceMapping checks for an SQS queue:
    https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
    https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions"""
    queue_arn = properties["EventSourceArn"]
    queue = _queue_by_arn(stack, queue_arn)
    visibility = int(queue.get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY_SECONDS))
    if visibility < function_timeout:
        raise DeployRuleBroken(
            f"the queue's visibility timeout ({visibility} s) is less than the function's "
            f"timeout ({function_timeout} s); Lambda refuses such an event source mapping"
        )
    batch = int(properties.get("BatchSize", 10))
    window = int(properties.get("MaximumBatchingWindowInSeconds", 0))
    if batch > SQS_BATCH_WITHOUT_WINDOW and window < 1:
        raise DeployRuleBroken(
            f"a batch size over {SQS_BATCH_WITHOUT_WINDOW} needs MaximumBatchingWindowInSeconds of at least 1"
        )
    role = role_named_by(stack, role_arn)
    policies = role_policies(stack, role)
    refused = [action for action in SQS_POLLER_ACTIONS if not policies.allows(action, queue_arn)]
    if refused:
        raise DeployRuleBroken(
            f"the function's role {role} may not {', '.join(refused)} on {queue_arn}; "
            "Lambda refuses an event source mapping its execution role cannot read"
        )


def check_state_machine_logging(stack: Stack, properties: dict[str, Any]) -> None:
    """CreateStateMachine checks that the role can deliver logs to the destination:
    https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html"""
    logging = properties.get("LoggingConfiguration", {})
    if not logging.get("Destinations") or logging.get("Level", "OFF") == "OFF":
        return
    role = role_named_by(stack, properties["RoleArn"])
    policies = role_policies(stack, role)
    refused = [action for action in LOG_DELIVERY_ACTIONS if not policies.allows(action, "*")]
    if refused:
        raise DeployRuleBroken(
            f"the state machine IAM role {role} is not authorized to access the log "
            f"destination (it may not {', '.join(refused)}); Step Functions refuses to create it"
        )


def _queue_by_arn(stack: Stack, arn: str) -> dict[str, Any]:
    found = stack.resource_by_attribute("AWS::SQS::Queue", "Arn", arn)
    if found is None:
        raise DeployRuleBroken(f"no queue of the stack (or its nested stacks) has the ARN {arn}")
    owner, name = found
    return owner.properties[name]
