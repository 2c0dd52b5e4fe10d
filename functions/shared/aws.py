"""boto3 clients with the standard retry mode, created once per execution environment.

Endpoints come from the standard AWS_ENDPOINT_URL* variables, which is how the local cloud
points the same code at its emulator: nothing here knows which cloud it runs in.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.retries.standard import (
    OrRetryChecker,
    RetryContext,
    ThrottledRetryableChecker,
    TransientRetryableChecker,
)

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


# Whether a failed call may succeed later, as botocore's standard retry mode decides it (the
# checkers in botocore.retries.standard: its throttling codes, its transient codes, HTTP 500, 502,
# 503 and 504, and its connection errors and timeouts), so the list is botocore's, kept current with
# it. Two additions botocore's standard mode lacks: HTTP 429 (Too Many Requests, which its legacy
# mode, botocore/data/_retry.json, retries), and the throttling codes of services whose documented
# codes its list misses: SNS answers a throttled KMS key with KMSThrottling (HTTP 400):
# https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors
_BOTOCORE_RETRIES = OrRetryChecker([TransientRetryableChecker(), ThrottledRetryableChecker()])
_TOO_MANY_REQUESTS = 429
_MORE_THROTTLING_CODES = frozenset({"KMSThrottling"})


def worth_retrying(error: BaseException) -> bool:
    """A failed AWS call that a later attempt may get through (throttled, a dependency's 5xx, the
    network): where anything else (access denied, a missing resource, a refused parameter, missing
    credentials) is a fault of the caller's own configuration, which no retry mends."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.response.get("Error", {}).get("Code")
        if status == _TOO_MANY_REQUESTS or code in _MORE_THROTTLING_CODES:
            return True
        answer = AWSResponse(url="", status_code=status, headers=HTTPHeaders(), raw=None) if status else None
        context = RetryContext(attempt_number=1, parsed_response=error.response, http_response=answer)
        return bool(_BOTOCORE_RETRIES.is_retryable(context))
    if isinstance(error, BotoCoreError):
        return bool(_BOTOCORE_RETRIES.is_retryable(RetryContext(attempt_number=1, caught_exception=error)))
    return False


def error_code(error: BaseException) -> str:
    """What names a failed AWS call in a log: the service's error code, or the exception's class."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__
