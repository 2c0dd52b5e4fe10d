"""A role's policies as deployed: inline, the stack's own managed policies, and AWS managed ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agenthub.iam.policy import Policies, Statement, statements_of

if TYPE_CHECKING:
    from agenthub.local.deploy import Stack

# What the AWS managed policies SAM attaches allow (their published documents):
# https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaBasicExecutionRole.html
# https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSXrayWriteOnlyAccess.html
# https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonAPIGatewayPushToCloudWatchLogs.html
AWS_MANAGED: dict[str, dict[str, Any]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            }
        ]
    },
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:GetSamplingStatisticSummaries",
                ],
                "Resource": "*",
            }
        ]
    },
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs": {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogGroups",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                    "logs:GetLogEvents",
                    "logs:FilterLogEvents",
                ],
                "Resource": "*",
            }
        ]
    },
}


def role_named_by(stack: Stack, arn: str) -> str:
    """The logical id of the stack's role with this ARN."""
    for name, kind in stack.types.items():
        if kind == "AWS::IAM::Role" and stack.resources[name].attributes.get("Arn") == arn:
            return name
    raise LookupError(f"no role of the stack has the ARN {arn}")


def role_policies(stack: Stack, role: str, own_only: bool = False) -> Policies:
    """Every statement the role holds; `own_only` leaves out AWS managed policies."""
    properties = stack.properties[role]
    statements: list[Statement] = []
    for policy in properties.get("Policies", []):
        statements += statements_of(policy["PolicyDocument"], f"{role}/{policy['PolicyName']}")
    own = {stack.ref(name): name for name, kind in stack.types.items() if kind == "AWS::IAM::ManagedPolicy"}
    for arn in properties.get("ManagedPolicyArns", []):
        if arn in own:
            statements += statements_of(stack.properties[own[arn]]["PolicyDocument"], own[arn])
        elif not own_only:
            if arn not in AWS_MANAGED:
                raise LookupError(f"{role}: the IAM check does not know the managed policy {arn}")
            statements += statements_of(AWS_MANAGED[arn], arn.rsplit("/", 1)[-1])
    return Policies.of(statements)
