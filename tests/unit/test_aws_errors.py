"""Which failed AWS calls are worth a retry (a 503) and which are the stack's own fault (a 500):
`shared.aws.worth_retrying`, by botocore's standard retry mode. docs/reliability.md cases 11 and 12."""

from __future__ import annotations

import string
from typing import Any

import botocore.exceptions
from botocore.exceptions import BotoCoreError, ClientError
from botocore.retries.standard import ThrottledRetryableChecker, TransientRetryableChecker
from hypothesis import given
from hypothesis import strategies as st

from shared.aws import error_code, worth_retrying

# botocore's own lists (botocore/retries/standard.py), read from the checkers worth_retrying uses.
THROTTLING_CODES = ThrottledRetryableChecker()._throttled_error_codes
TRANSIENT_CODES = TransientRetryableChecker()._transient_error_codes
RETRYABLE_CODES = {*THROTTLING_CODES, *TRANSIENT_CODES, "KMSThrottling"}
# What the services answer for the stack's own mistakes: permissions, missing resources, bad calls,
# disabled keys (DynamoDB, SNS, S3 and KMS error codes from their API references).
FINAL_CODES = [
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "ResourceNotFoundException",
    "NotFound",
    "NoSuchBucket",
    "ValidationException",
    "InvalidParameter",
    "KMSDisabled",
    "KMSAccessDenied",
    "KMSNotFound",
    "UnrecognizedClientException",
    "ConditionalCheckFailedException",
]


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


def every_subclass(cls: type[Any]) -> list[type[Any]]:
    """botocore's own subclasses of `cls` (others, such as boto3's, are raised by no AWS call)."""
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *every_subclass(sub)]
    return [sub for sub in found if sub.__module__ == "botocore.exceptions"]


def botocore_error(cls: type[BotoCoreError]) -> BotoCoreError:
    """An instance of one of botocore's exceptions, its message fields filled in (the few with an
    `__init__` of their own are made without it: only their class matters here)."""
    fields = {name for _, name, _, _ in string.Formatter().parse(cls.fmt) if name}
    try:
        return cls(**dict.fromkeys(fields, "x"))
    except TypeError:
        error = cls.__new__(cls)
        Exception.__init__(error, cls.fmt)
        return error


NETWORK_ERRORS = sorted(
    {
        *every_subclass(botocore.exceptions.ConnectionError),
        *every_subclass(botocore.exceptions.HTTPClientError),
    },
    key=lambda cls: cls.__name__,
)
OTHER_BOTOCORE_ERRORS = sorted(
    set(every_subclass(BotoCoreError))
    - {*NETWORK_ERRORS, botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError}
    - set(every_subclass(ClientError)),
    key=lambda cls: cls.__name__,
)
STATUSES_4XX = st.integers(min_value=400, max_value=499).filter(lambda status: status != 429)


@given(code=st.sampled_from(sorted(THROTTLING_CODES)), status=st.sampled_from([400, 429, 503]))
def test_every_code_botocore_counts_as_throttling_is_worth_retrying(code: str, status: int) -> None:
    assert worth_retrying(client_error(code, status))


@given(code=st.text(max_size=40), status=st.sampled_from([429, 500, 502, 503, 504]))
def test_too_many_requests_and_a_dependencys_5xx_are_worth_retrying_whatever_the_code(
    code: str, status: int
) -> None:
    assert worth_retrying(client_error(code, status))


@given(cls=st.sampled_from(NETWORK_ERRORS))
def test_a_connection_error_or_timeout_is_worth_retrying(cls: type[BotoCoreError]) -> None:
    assert {
        botocore.exceptions.EndpointConnectionError,
        botocore.exceptions.ConnectTimeoutError,
        botocore.exceptions.ReadTimeoutError,
    } <= set(NETWORK_ERRORS)
    assert worth_retrying(botocore_error(cls))


@given(code=st.sampled_from(FINAL_CODES), status=STATUSES_4XX)
def test_access_denied_a_missing_resource_or_a_refused_call_is_not(code: str, status: int) -> None:
    assert not worth_retrying(client_error(code, status))


@given(code=st.text(max_size=40).filter(lambda code: code not in RETRYABLE_CODES), status=STATUSES_4XX)
def test_no_other_4xx_is_worth_retrying(code: str, status: int) -> None:
    assert not worth_retrying(client_error(code, status))


@given(cls=st.sampled_from(OTHER_BOTOCORE_ERRORS))
def test_no_other_botocore_error_is_worth_retrying(cls: type[BotoCoreError]) -> None:
    """Missing credentials or region, a parameter botocore refuses, an unknown service: configuration."""
    assert not worth_retrying(botocore_error(cls))


def test_what_is_no_aws_error_is_not_worth_retrying_and_is_named_by_its_class() -> None:
    assert not worth_retrying(KeyError("pk"))
    assert error_code(KeyError("pk")) == "KeyError"
    assert error_code(client_error("AuthorizationError", 403)) == "AuthorizationError"
