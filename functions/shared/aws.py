"""boto3 clients with the standard retry mode, created once per execution environment.

Endpoints come from the standard AWS_ENDPOINT_URL* variables, which is how the local cloud
points the same code at its emulator: nothing here knows which cloud it runs in.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

# Short socket timeouts: every call here normally answers in milliseconds, and a function must
# still have time to answer (a front door's 503) after the retries. Attempts come from the
# standard AWS_MAX_ATTEMPTS setting (3 unless a function's template entry says otherwise).
_CONFIG = Config(retries={"mode": "standard"}, connect_timeout=2, read_timeout=4)
# botocore presigns S3 URLs and POSTs with Signature Version 2 unless told otherwise, and S3 refuses
# SigV2 for every bucket created after June 24, 2020, so the stack's own data lake would refuse the
# dataset uploads and result links the front door hands out:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingAWSSDK.html#UsingAWSSDK-sig2-deprecation
_SERVICE_CONFIG = {"s3": _CONFIG.merge(Config(signature_version="s3v4"))}


# Every client is typed by the accessor below: the IAM check (agenthub/iam) reads which AWS
# operations a function calls from these types, so an untyped client would hide its calls.
@cache
def _client(service: str) -> Any:
    return boto3.client(service, config=_SERVICE_CONFIG.get(service, _CONFIG))  # type: ignore[call-overload]


def bedrock() -> BedrockClient:
    return _client("bedrock")  # type: ignore[no-any-return]


def dynamodb() -> DynamoDBClient:
    return _client("dynamodb")  # type: ignore[no-any-return]


def eks() -> EKSClient:
    return _client("eks")  # type: ignore[no-any-return]


def s3() -> S3Client:
    return _client("s3")  # type: ignore[no-any-return]


def sns() -> SNSClient:
    return _client("sns")  # type: ignore[no-any-return]


def sqs() -> SQSClient:
    return _client("sqs")  # type: ignore[no-any-return]


def stepfunctions() -> SFNClient:
    return _client("stepfunctions")  # type: ignore[no-any-return]


def sagemaker() -> SageMakerClient:
    return _client("sagemaker")  # type: ignore[no-any-return]


# What S3 answers a HEAD for an object that is not there: a HEAD has no body, so no modelled error,
# only its status; and to a reader that may not list the bucket (none here may), 403, not 404:
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
_NOT_THERE = {"404", "NoSuchKey", "NotFound", "403", "AccessDenied", "Forbidden"}


def object_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _NOT_THERE
