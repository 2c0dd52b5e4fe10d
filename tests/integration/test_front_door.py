"""Front door against the template's own tables and topic (moto).

docs/reliability.md cases 1-7, 9, 11-13, 31, 32 and 33.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agenthub.local.deploy import Stack
from tests.support.events import api_event
from tests.support.faults import failing
from tests.support.moto_stack import FunctionRunner, client, drain, hub_messages

SUBMIT_PREPROCESS = "front_door/post_request_preprocess.json"
SUBMIT_INVOKE = "front_door/post_request_invoke.json"
GET_REQUEST = "front_door/get_request.json"


def accepted_events(stack: Stack) -> list[dict[str, Any]]:
    """request.accepted messages the hub delivered to the core writer's queue (consumed)."""
    events = hub_messages(drain(stack.ref("CoreWriterSubscriber.Queue")))
    return [event for event in events if event["event_type"] == "request.accepted"]


def body(response: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(response["body"])
    return parsed


def submit(functions: FunctionRunner, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = functions.invoke("FrontDoorFunction", event)
    return with_headers(response)


def with_headers(response: dict[str, Any]) -> dict[str, Any]:
    """The proxy response with its multi-value headers folded into `headers`, as API Gateway returns them."""
    headers = dict(response.get("headers") or {})
    headers.update({name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()})
    return {**response, "headers": headers}


def test_a_request_is_accepted_once_and_published_with_its_routing_attributes(
    stack: Stack, functions: FunctionRunner
) -> None:
    response = submit(functions, api_event(SUBMIT_INVOKE))

    assert response["statusCode"] == 202
    accepted = body(response)
    assert accepted["status"] == "ACCEPTED"
    assert accepted["pipeline"] == "invoke"
    # The sample event came through the "prod" stage on execute-api: links are absolute and keep it.
    assert response["headers"]["Location"] == (
        f"https://${{HubApi}}.execute-api.${{AWS::Region}}.amazonaws.com/prod/v1/requests/{accepted['request_id']}"
    )
    assert accepted["links"]["self"] == response["headers"]["Location"]
    assert "Idempotency-Replayed" not in response["headers"]
    messages = drain(stack.ref("CoreWriterSubscriber.Queue"))
    assert len(messages) == 1
    notification = json.loads(messages[0]["Body"])
    assert notification["MessageAttributes"]["event_type"]["Value"] == "request.accepted"
    assert notification["MessageAttributes"]["pipeline"]["Value"] == "invoke"
    assert notification["MessageAttributes"]["first_stage"]["Value"] == "invoke"
    event = json.loads(notification["Message"])
    assert event["request_id"] == accepted["request_id"]
    assert event["subject"] == api_event(SUBMIT_INVOKE)["requestContext"]["authorizer"]["claims"]["sub"]
    assert event["payload"]["input"]["prompt"] == "Name three uses of a pub/sub hub."


def test_a_request_reads_back_and_cancels_the_moment_it_is_accepted(
    stack: Stack, functions: FunctionRunner
) -> None:
    accepted = body(submit(functions, api_event(SUBMIT_INVOKE)))
    request_id = accepted["request_id"]
    read = {"request_id": request_id}
    cancel = api_event(GET_REQUEST, path_parameters=read)
    cancel.update({"httpMethod": "POST", "path": f"/v1/requests/{request_id}/cancel"})
    cancel["resource"] = "/v1/requests/{request_id}/cancel"

    # The core writer has not run: the catalog does not know the request yet.
    mine = submit(functions, api_event(GET_REQUEST, path_parameters=read))
    theirs = submit(functions, api_event(GET_REQUEST, path_parameters=read, subject="someone-else"))
    cancelled = submit(functions, cancel)

    assert mine["statusCode"] == 200
    view = body(mine)
    assert (view["status"], view["pipeline"], view["stages"]) == ("ACCEPTED", "invoke", ["invoke"])
    assert view["history"] == []
    (published,) = accepted_events(stack)
    # The same instant the catalog will record from request.accepted, in the catalog's format.
    assert datetime.fromisoformat(view["created_at"]) == datetime.fromisoformat(published["occurred_at"])
    assert theirs["statusCode"] == 404
    assert cancelled["statusCode"] == 202
    (asked,) = hub_messages(drain(stack.ref("ProcessingCancelSubscriber.Queue")))
    assert (asked["event_type"], asked["request_id"]) == ("request.cancel_requested", request_id)


def test_same_key_and_body_replays_the_first_answer_without_publishing_again(
    stack: Stack, functions: FunctionRunner
) -> None:
    first = submit(functions, api_event(SUBMIT_PREPROCESS))
    second = submit(functions, api_event(SUBMIT_PREPROCESS))

    assert first["statusCode"] == second["statusCode"] == 202
    assert body(second)["request_id"] == body(first)["request_id"]
    assert second["headers"]["Idempotency-Replayed"] == "true"
    assert len(accepted_events(stack)) == 1


def test_the_same_key_from_another_caller_is_a_different_request(
    stack: Stack, functions: FunctionRunner
) -> None:
    first = submit(functions, api_event(SUBMIT_PREPROCESS))
    other = submit(functions, api_event(SUBMIT_PREPROCESS, subject="another-caller"))

    assert body(other)["request_id"] != body(first)["request_id"]
    assert "Idempotency-Replayed" not in other["headers"]
    assert len(accepted_events(stack)) == 2


def test_concurrent_duplicates_publish_once_and_the_rest_get_409_with_retry_after(
    stack: Stack, functions: FunctionRunner
) -> None:
    handler = functions.activate("FrontDoorFunction")
    from agenthub.local.lambda_context import LambdaContext

    context = LambdaContext.starting_now
    from front_door import app

    publisher = app.service()._publisher
    publish = publisher.publish
    inside, release = threading.Event(), threading.Event()

    def slow_publish(event: Any) -> str:
        inside.set()
        assert release.wait(10)
        return publish(event)

    publisher.publish = slow_publish  # type: ignore[method-assign]
    results: list[dict[str, Any]] = []
    first = threading.Thread(
        target=lambda: results.append(with_headers(handler(api_event(SUBMIT_INVOKE), context())))
    )
    first.start()
    assert inside.wait(10)
    duplicates = [with_headers(handler(api_event(SUBMIT_INVOKE), context())) for _ in range(5)]
    release.set()
    first.join(10)

    assert [response["statusCode"] for response in duplicates] == [409] * 5
    assert all(response["headers"]["Retry-After"] == "2" for response in duplicates)
    assert results[0]["statusCode"] == 202
    assert len(accepted_events(stack)) == 1
    retried = with_headers(handler(api_event(SUBMIT_INVOKE), context()))
    assert retried["statusCode"] == 202
    assert body(retried)["request_id"] == body(results[0])["request_id"]


def test_the_same_key_with_another_body_is_422_and_publishes_nothing(
    stack: Stack, functions: FunctionRunner
) -> None:
    submit(functions, api_event(SUBMIT_PREPROCESS))
    drain(stack.ref("CoreWriterSubscriber.Queue"))
    changed = api_event(
        SUBMIT_PREPROCESS, body={"pipeline": "preprocess", "input": {"text": "something else"}}
    )

    response = submit(functions, changed)

    assert response["statusCode"] == 422
    assert "different request body" in body(response)["message"]
    assert accepted_events(stack) == []


def test_a_missing_idempotency_key_is_400_naming_the_header(stack: Stack, functions: FunctionRunner) -> None:
    response = submit(functions, api_event(SUBMIT_PREPROCESS, headers={"Idempotency-Key": None}))

    assert response["statusCode"] == 400
    assert body(response)["errors"] == [{"field": "header idempotency-key", "problem": "Field required"}]
    assert accepted_events(stack) == []


def test_a_malformed_idempotency_key_is_400(stack: Stack, functions: FunctionRunner) -> None:
    response = submit(functions, api_event(SUBMIT_PREPROCESS, headers={"Idempotency-Key": "has spaces"}))

    assert response["statusCode"] == 400
    assert body(response)["errors"][0]["field"] == "header idempotency-key"
    assert accepted_events(stack) == []


def test_after_the_dedupe_window_the_same_key_is_a_new_request(
    stack: Stack, functions: FunctionRunner
) -> None:
    first = body(submit(functions, api_event(SUBMIT_PREPROCESS)))
    expire_dedupe_records(stack)

    again = submit(functions, api_event(SUBMIT_PREPROCESS))

    assert again["statusCode"] == 202
    assert "Idempotency-Replayed" not in again["headers"]
    assert body(again)["request_id"] != first["request_id"]
    assert len(accepted_events(stack)) == 2


def expire_dedupe_records(stack: Stack) -> None:
    """What the passage of DedupeWindowSeconds does to the table: every record is past its expiry."""
    dynamodb = client("dynamodb")
    table = stack.ref("IdempotencyTable")
    past = str(int(time.time()) - 1)
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.update_item(
            TableName=table,
            Key={"id": item["id"]},
            UpdateExpression="SET expiration = :past",
            ExpressionAttributeValues={":past": {"N": past}},
        )


@pytest.mark.parametrize(
    ("raw_body", "field", "problem"),
    [
        ("{not json", "body", "is not valid JSON"),
        (
            json.dumps({"pipeline": "translate", "input": {}}),
            "pipeline",
            "does not match any of the expected tags",
        ),
        (json.dumps({"pipeline": "preprocess", "input": {}}), "input.text", "Field required"),
        (
            json.dumps({"pipeline": "invoke", "input": {"prompt": "hi", "tempurature": 2}}),
            "input.tempurature",
            "Extra",
        ),
        (
            json.dumps({"pipeline": "invoke", "input": {"prompt": "hi", "inference": {"temperature": 3}}}),
            "input.inference.temperature",
            "less than or equal to 1",
        ),
        (
            '{"pipeline": "invoke", "input": {"prompt": "hi", "inference": {"temperature": NaN}}}',
            "input.inference.temperature",
            "finite number",
        ),
        # A chained request's own field keeps its full path ("preprocess" is also a pipeline name).
        (
            json.dumps(
                {
                    "pipeline": "invoke",
                    "input": {"prompt": "hi", "preprocess": {"text": "x", "chunk_tokens": 0}},
                }
            ),
            "input.preprocess.chunk_tokens",
            "greater than or equal to",
        ),
    ],
)
def test_bad_bodies_are_400_with_a_field_level_message_and_publish_nothing(
    stack: Stack, functions: FunctionRunner, raw_body: str, field: str, problem: str
) -> None:
    response = submit(functions, api_event(SUBMIT_PREPROCESS, body=raw_body))

    assert response["statusCode"] == 400
    errors = body(response)["errors"]
    assert any(error["field"] == field and problem in error["problem"] for error in errors), errors
    assert accepted_events(stack) == []


def test_a_body_that_is_not_utf8_is_400_and_publishes_nothing(
    stack: Stack, functions: FunctionRunner
) -> None:
    event = api_event(SUBMIT_PREPROCESS)
    event["body"] = base64.b64encode(b'{"pipeline": "preprocess", "input": {"text": "\xff\xfe"}}').decode()
    event["isBase64Encoded"] = True

    response = submit(functions, event)

    assert response["statusCode"] == 400
    assert body(response)["errors"] == [{"field": "body", "problem": "is not UTF-8 text"}]
    assert accepted_events(stack) == []


def test_a_model_outside_the_allowed_list_is_400(stack: Stack, functions: FunctionRunner) -> None:
    event = api_event(
        SUBMIT_INVOKE, body={"pipeline": "invoke", "input": {"prompt": "hi", "model_id": "some.other-model"}}
    )

    response = submit(functions, event)

    assert response["statusCode"] == 400
    assert body(response)["errors"][0]["field"] == "input.model_id"
    assert "amazon.nova-lite-v1:0" in body(response)["errors"][0]["problem"]
    assert accepted_events(stack) == []


def test_a_non_json_content_type_is_400(stack: Stack, functions: FunctionRunner) -> None:
    response = submit(functions, api_event(SUBMIT_PREPROCESS, headers={"Content-Type": "text/plain"}))

    assert response["statusCode"] == 400
    assert body(response) == {
        "message": "the request is invalid",
        "errors": [{"field": "body", "problem": "Content-Type must be application/json, not text/plain"}],
    }
    assert accepted_events(stack) == []


@pytest.mark.parametrize(
    "content_type",
    ["APPLICATION/JSON", "Application/Json; charset=UTF-8", " application/JSON ;charset=utf-8"],
)
def test_json_is_json_whatever_the_case_of_its_media_type(
    stack: Stack, functions: FunctionRunner, content_type: str
) -> None:
    """Media types are case-insensitive (RFC 9110 section 8.3.1): a body sent as `APPLICATION/JSON`
    is accepted as JSON, once."""
    response = submit(functions, api_event(SUBMIT_PREPROCESS, headers={"Content-Type": content_type}))

    assert response["statusCode"] == 202, body(response)
    assert [event["request_id"] for event in accepted_events(stack)] == [body(response)["request_id"]]


def test_json_nested_too_deep_to_parse_is_400_and_publishes_nothing(
    stack: Stack, functions: FunctionRunner
) -> None:
    """100,000 levels would exhaust Python's recursion limit in the parser: refused unparsed."""
    deep = (
        '{"pipeline": "preprocess", "input": {"text": "x", "extra": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    )
    response = submit(functions, api_event(SUBMIT_PREPROCESS, body=deep))

    assert response["statusCode"] == 400
    assert body(response)["errors"] == [{"field": "body", "problem": "nests deeper than 32 levels"}]
    assert accepted_events(stack) == []


def test_a_body_over_the_hub_limit_travels_as_a_claim_check(stack: Stack, functions: FunctionRunner) -> None:
    text = "word " * 80_000  # 400 KB: over SNS's 256 KiB, under the API's 1 MiB
    response = submit(
        functions, api_event(SUBMIT_PREPROCESS, body={"pipeline": "preprocess", "input": {"text": text}})
    )

    assert response["statusCode"] == 202
    (event,) = accepted_events(stack)
    assert event["payload"] is None
    bucket, key = event["payload_ref"][len("s3://") :].split("/", 1)
    assert bucket == stack.ref("DataLakeBucket")
    stored = json.loads(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert stored["input"]["text"] == text


def test_a_body_over_the_api_limit_is_413_and_publishes_nothing(
    stack: Stack, functions: FunctionRunner
) -> None:
    text = "x" * (1024 * 1024 + 1)
    response = submit(
        functions, api_event(SUBMIT_PREPROCESS, body={"pipeline": "preprocess", "input": {"text": text}})
    )

    assert response["statusCode"] == 413
    assert body(response)["message"] == "the request is too large"
    assert accepted_events(stack) == []
    assert client("dynamodb").scan(TableName=stack.ref("IdempotencyTable"))["Count"] == 0


def test_a_token_without_the_write_scope_is_403_and_runs_nothing(
    stack: Stack, functions: FunctionRunner
) -> None:
    event = api_event(SUBMIT_PREPROCESS)
    event["requestContext"]["authorizer"]["claims"]["scope"] = "openid hub/requests.read"

    response = submit(functions, event)

    assert response["statusCode"] == 403
    assert accepted_events(stack) == []
    assert client("dynamodb").scan(TableName=stack.ref("IdempotencyTable"))["Count"] == 0


def log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The function's log lines as CloudWatch Logs gets them: its records, through its own formatter."""
    from shared.observability import logger

    formatter = logger.registered_formatter
    return [json.loads(formatter.format(record)) for record in caplog.records if record.name == logger.name]


def counted(captured: pytest.CaptureFixture[str]) -> set[str]:
    """The metrics the function emitted since the last look: the EMF documents it printed."""
    return {
        metric["Name"]
        for line in captured.readouterr().out.splitlines()
        if line.startswith('{"_aws"')
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }


# A dependency that may answer a later attempt: throttled (by botocore's own throttling codes, by
# SNS's documented ones, by HTTP 429), a 5xx, or the network.
RETRYABLE_PUBLISH_FAULTS = [
    pytest.param("Throttled", 429, id="sns-throttled"),
    pytest.param("KMSThrottling", 400, id="sns-kms-throttled"),
    pytest.param("InternalError", 500, id="sns-internal-error"),
    pytest.param(
        EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com"), 0, id="no-route"
    ),
    pytest.param(ReadTimeoutError(endpoint_url="https://sns.us-east-1.amazonaws.com"), 0, id="read-timeout"),
]
# A dependency that refused for good: the stack's own permissions, resources or calls are wrong.
FINAL_PUBLISH_FAULTS = [
    pytest.param("AuthorizationError", 403, id="sns-access-denied"),
    pytest.param("NotFound", 404, id="sns-no-such-topic"),
    pytest.param("KMSDisabled", 400, id="sns-key-disabled"),
    pytest.param("InvalidParameter", 400, id="sns-invalid-call"),
]


def test_a_throttled_dedupe_table_is_503_and_publishes_nothing(
    stack: Stack, functions: FunctionRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    functions.activate("FrontDoorFunction")
    from shared import aws

    with failing(aws.dynamodb(), "PutItem", "ProvisionedThroughputExceededException") as fault:
        response = submit(functions, api_event(SUBMIT_PREPROCESS))

    assert fault.failures >= 1
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "2"
    assert "error_id" not in body(response)
    assert counted(capsys) == {"DependencyUnavailable"}
    assert accepted_events(stack) == []


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        pytest.param(
            ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"), 0, id="timeout"
        ),
        pytest.param("AccessDeniedException", 400, id="access-denied"),
        pytest.param("ResourceNotFoundException", 400, id="no-such-table"),
    ],
)
def test_a_dedupe_table_that_fails_is_answered_by_its_cause_and_nothing_is_published(
    stack: Stack, functions: FunctionRunner, fault: str | Exception, status: int
) -> None:
    """Powertools wraps the table's answer in IdempotencyPersistenceLayerError; the cause decides."""
    functions.activate("FrontDoorFunction")
    from shared import aws

    with failing(aws.dynamodb(), "PutItem", fault, status=status or 400):
        response = submit(functions, api_event(SUBMIT_PREPROCESS))
    retried = submit(functions, api_event(SUBMIT_PREPROCESS))

    if isinstance(fault, Exception):
        assert response["statusCode"] == 503
        assert response["headers"]["Retry-After"] == "2"
    else:
        assert response["statusCode"] == 500
        assert set(body(response)) == {"message", "error_id"}
        assert "Retry-After" not in response["headers"]
    assert retried["statusCode"] == 202
    assert len(accepted_events(stack)) == 1


@pytest.mark.parametrize(("fault", "status"), RETRYABLE_PUBLISH_FAULTS)
def test_a_publish_that_may_pass_later_is_503_the_key_is_released_and_the_retry_is_accepted_once(
    stack: Stack,
    functions: FunctionRunner,
    capsys: pytest.CaptureFixture[str],
    fault: str | Exception,
    status: int,
) -> None:
    functions.activate("FrontDoorFunction")
    from shared import aws

    with failing(aws.sns(), "Publish", fault, status=status or 400, times=1):
        failed = submit(functions, api_event(SUBMIT_PREPROCESS))
    metrics = counted(capsys)
    retried = submit(functions, api_event(SUBMIT_PREPROCESS))
    replayed = submit(functions, api_event(SUBMIT_PREPROCESS))

    assert failed["statusCode"] == 503
    assert failed["headers"]["Retry-After"] == "2"
    assert body(failed) == {"message": "the service cannot answer right now; retry after Retry-After seconds"}
    assert metrics == {"DependencyUnavailable"}
    assert retried["statusCode"] == 202
    assert "Idempotency-Replayed" not in retried["headers"]
    assert replayed["headers"]["Idempotency-Replayed"] == "true"
    assert len(accepted_events(stack)) == 1


@pytest.mark.parametrize(("fault", "status"), FINAL_PUBLISH_FAULTS)
def test_a_publish_refused_for_good_is_500_with_an_error_id_the_log_carries_and_the_key_is_released(
    stack: Stack,
    functions: FunctionRunner,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    fault: str,
    status: int,
) -> None:
    functions.activate("FrontDoorFunction")
    from shared import aws

    with failing(aws.sns(), "Publish", fault, status=status, times=1):
        failed = submit(functions, api_event(SUBMIT_PREPROCESS))
    metrics = counted(capsys)
    # The operator mends the permission (here: the fault is gone); the caller sends it again.
    retried = submit(functions, api_event(SUBMIT_PREPROCESS))
    replayed = submit(functions, api_event(SUBMIT_PREPROCESS))

    assert failed["statusCode"] == 500
    answer = body(failed)
    assert set(answer) == {"message", "error_id"}
    assert "fault in this service" in answer["message"]
    error_id = str(uuid.UUID(answer["error_id"]))
    assert "Retry-After" not in failed["headers"]
    # Nothing of the stack in the answer: no topic, no ARN, no error code, no trace.
    for internal in (stack.ref("AgentCoreTopic"), "arn:", fault, "Traceback", "sns"):
        assert internal not in failed["body"], internal
    (logged,) = [line for line in log_lines(caplog) if line.get("error_id") == error_id]
    assert logged["level"] == "ERROR"
    assert logged["error_code"] == fault
    assert "Traceback" in logged["exception"]
    assert metrics == {"DependencyMisconfigured"}
    # The idempotency record was released: the retry is accepted, once.
    assert retried["statusCode"] == 202
    assert "Idempotency-Replayed" not in retried["headers"]
    assert replayed["headers"]["Idempotency-Replayed"] == "true"
    assert len(accepted_events(stack)) == 1


def test_every_500_has_its_own_error_id(stack: Stack, functions: FunctionRunner) -> None:
    functions.activate("FrontDoorFunction")
    from shared import aws

    with failing(aws.sns(), "Publish", "AuthorizationError", status=403):
        answers = [body(submit(functions, api_event(SUBMIT_PREPROCESS)))["error_id"] for _ in range(3)]

    assert len(set(answers)) == 3
    assert accepted_events(stack) == []


def test_a_fault_of_the_front_doors_own_is_500_with_an_error_id_not_a_crash(
    stack: Stack,
    functions: FunctionRunner,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    functions.activate("FrontDoorFunction")
    from front_door import app

    listings = app.service().listings

    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("a bug")

    listings.page = broken  # type: ignore[method-assign]
    try:
        response = submit(functions, list_event("ada"))
    finally:
        del listings.page

    assert response["statusCode"] == 500
    error_id = body(response)["error_id"]
    assert "a bug" not in response["body"]
    (logged,) = [line for line in log_lines(caplog) if line.get("error_id") == error_id]
    assert logged["error_code"] == "KeyError"
    assert counted(capsys) == {"UnexpectedErrors"}


def test_a_crash_after_publishing_gives_the_retry_the_same_request_id(
    stack: Stack, functions: FunctionRunner
) -> None:
    """The in-progress record outlived its function; the retry re-runs but republishes the same facts."""
    functions.activate("FrontDoorFunction")
    from shared import aws

    first = submit(functions, api_event(SUBMIT_PREPROCESS))
    first_event = accepted_events(stack)[0]
    # What a timeout after the publish leaves behind: the key's record is gone, the ledger is not.
    dynamodb = aws.dynamodb()
    table = stack.ref("IdempotencyTable")
    for item in dynamodb.scan(TableName=table)["Items"]:
        if not item["id"]["S"].startswith("request-id#"):
            dynamodb.delete_item(TableName=table, Key={"id": item["id"]})

    retried = submit(functions, api_event(SUBMIT_PREPROCESS))

    assert body(retried)["request_id"] == body(first)["request_id"]
    (republished,) = accepted_events(stack)
    assert republished["event_id"] == first_event["event_id"]


def test_a_prompt_too_large_for_one_model_call_is_400(stack: Stack, functions: FunctionRunner) -> None:
    request = {"pipeline": "invoke", "input": {"prompt": "語" * 20_000}}  # 60 KB of UTF-8

    response = submit(functions, api_event(SUBMIT_INVOKE, body=request))

    assert response["statusCode"] == 400
    assert "one model call takes at most" in json.dumps(body(response))
    assert accepted_events(stack) == []


def _catalog_rows(stack: Stack, subject: str, count: int, start_minute: int = 0) -> list[str]:
    """`count` requests of `subject` in the catalog, as the core writer writes them, a minute apart,
    cycling through the pipelines and statuses; their ids, oldest first."""
    from contracts.catalog import CatalogRow, to_item

    pipelines = ("preprocess", "invoke", "agent", "customize")
    statuses = ("SUCCEEDED", "FAILED", "RUNNING")
    ids = []
    for number in range(count):
        at = f"2026-11-25T10:{start_minute + number:02d}:00+00:00"
        row = CatalogRow(
            request_id=f"{subject}-{number:03d}",
            subject=subject,
            pipeline=pipelines[number % 4],
            status=statuses[number % 3],  # type: ignore[arg-type]
            created_at=at,
            updated_at=at,
        )
        client("dynamodb").put_item(TableName=stack.ref("CatalogTable"), Item=to_item(row))
        ids.append(row.request_id)
    return ids


def list_event(subject: str, **query: str) -> dict[str, Any]:
    event = api_event(GET_REQUEST, subject=subject)
    event.update(
        {
            "resource": "/v1/requests",
            "path": "/v1/requests",
            "pathParameters": None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {name: [value] for name, value in query.items()} or None,
        }
    )
    event["requestContext"]["path"] = "/prod/v1/requests"
    return event


def test_the_callers_requests_list_newest_first_a_page_at_a_time_and_never_anothers(
    stack: Stack, functions: FunctionRunner
) -> None:
    mine = _catalog_rows(stack, "ada", 23)
    theirs = _catalog_rows(stack, "grace", 5, start_minute=30)  # newer than all of ada's

    listed: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": "10", **({"cursor": cursor} if cursor else {})}
        answer = submit(functions, list_event("ada", **query))
        assert answer["statusCode"] == 200, answer["body"]
        page = body(answer)
        listed.extend(page["requests"])
        cursor = page["next_cursor"]
        pages += 1
        if cursor is None:
            break

    assert [item["request_id"] for item in listed] == list(reversed(mine))
    assert pages == 3
    assert not set(theirs) & {item["request_id"] for item in listed}
    first = listed[0]
    assert set(first) == {"request_id", "pipeline", "status", "created_at", "updated_at", "links"}
    assert first["links"]["self"].startswith("https://")
    assert first["links"]["self"].endswith(f"/prod/v1/requests/{first['request_id']}")


def test_the_request_list_filters_by_pipeline_and_status(stack: Stack, functions: FunctionRunner) -> None:
    _catalog_rows(stack, "ada", 24)

    agent_failed = body(submit(functions, list_event("ada", pipeline="agent", status="FAILED")))
    invoke = body(submit(functions, list_event("ada", pipeline="invoke", limit="4")))

    # Row n is pipeline n % 4 and status n % 3: agent and FAILED are rows 10 and 22.
    assert [item["request_id"] for item in agent_failed["requests"]] == ["ada-022", "ada-010"]
    assert agent_failed["next_cursor"] is None
    assert [item["request_id"] for item in invoke["requests"]] == ["ada-021", "ada-017", "ada-013", "ada-009"]
    assert invoke["next_cursor"] is not None


def dedupe_items(stack: Stack) -> int:
    return int(client("dynamodb").scan(TableName=stack.ref("IdempotencyTable"))["Count"])


def test_a_cursor_from_another_caller_or_made_up_is_400(stack: Stack, functions: FunctionRunner) -> None:
    _catalog_rows(stack, "grace", 3)
    graces = body(submit(functions, list_event("grace", limit="1")))["next_cursor"]
    # What the API's cursors were before it issued them: the index key, readable and rewritable.
    made_up_key = base64.urlsafe_b64encode(
        json.dumps(
            {
                "subject": "ada",
                "created_at": "2026-11-25T10:01:00+00:00",
                "pk": "REQUEST#grace-001",
                "sk": "REQUEST",
            }
        ).encode()
    ).decode()

    stolen = submit(functions, list_event("ada", cursor=graces))
    made_up = submit(functions, list_event("ada", cursor="bm90IGEgY3Vyc29y"))
    well_formed = submit(functions, list_event("ada", cursor=made_up_key))
    unknown_status = submit(functions, list_event("ada", status="LOST"))

    assert graces is not None
    for refused in (stolen, made_up, well_formed):
        assert refused["statusCode"] == 400
        assert [error["field"] for error in body(refused)["errors"]] == ["cursor"]
        assert "start from the first page" in body(refused)["errors"][0]["problem"]
    assert unknown_status["statusCode"] == 400
    assert body(unknown_status)["errors"][0]["field"] == "status"


def test_a_cursor_changed_cut_short_or_past_its_day_is_400_and_an_issued_one_still_works(
    stack: Stack, functions: FunctionRunner
) -> None:
    ids = _catalog_rows(stack, "ada", 3)
    cursor = body(submit(functions, list_event("ada", limit="1")))["next_cursor"]
    changed = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")

    answers = {
        "changed": submit(functions, list_event("ada", limit="1", cursor=changed)),
        "cut short": submit(functions, list_event("ada", limit="1", cursor=cursor[:-4])),
        "empty": submit(functions, list_event("ada", limit="1", cursor="")),
    }
    issued = submit(functions, list_event("ada", limit="1", cursor=cursor))
    expire_dedupe_records(stack)  # a day later
    expired = submit(functions, list_event("ada", limit="1", cursor=cursor))

    for name, answer in answers.items():
        assert answer["statusCode"] == 400, name
        assert [error["field"] for error in body(answer)["errors"]] == ["cursor"], name
    assert issued["statusCode"] == 200
    assert [item["request_id"] for item in body(issued)["requests"]] == [ids[1]]
    assert expired["statusCode"] == 400
    assert body(expired)["errors"][0]["field"] == "cursor"
    # The cursor stands for the catalog's key without carrying it, in any encoding.
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b"REQUEST" not in decoded
    assert "REQUEST" not in cursor


ANY_CURSOR = st.one_of(
    st.text(max_size=200),
    # base64url of anything, as an issued cursor looks: most of what a forger would try
    st.binary(min_size=1, max_size=120).map(lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")),
)


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cursor=ANY_CURSOR)
def test_any_cursor_this_api_did_not_issue_is_400_naming_the_cursor_and_reads_nothing(
    stack: Stack, functions: FunctionRunner, cursor: str
) -> None:
    before = dedupe_items(stack)

    answer = submit(functions, list_event("ada", cursor=cursor))

    assert answer["statusCode"] == 400, answer["body"]
    assert [error["field"] for error in body(answer)["errors"]] == ["cursor"]
    assert "requests" not in body(answer)
    assert dedupe_items(stack) == before


def get_event(
    path: str, query: dict[str, str], path_parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    event = list_event("ada", **query)
    resource = path
    for name, value in (path_parameters or {}).items():
        resource = resource.replace(value, "{" + name + "}")
    event.update({"resource": resource, "path": path, "pathParameters": path_parameters})
    event["requestContext"]["path"] = f"/prod{path}"
    return event


# Every GET route, with the query parameters it takes.
GET_ROUTES = {
    "/v1/requests": ["cursor", "limit", "pipeline", "status"],
    "/v1/requests/some-request": [],
    "/v1/datasets": [],
    "/v1/tools": [],
    "/v1/models": [],
}
QUERY_NAMES = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=24
).filter(lambda name: name not in GET_ROUTES["/v1/requests"])


@settings(
    max_examples=80,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(sorted(GET_ROUTES)),
    unknown=st.dictionaries(QUERY_NAMES, st.text(max_size=20), min_size=1, max_size=3),
    known=st.dictionaries(st.sampled_from(["limit", "pipeline"]), st.just("2"), max_size=1),
)
def test_any_query_parameter_a_get_route_does_not_take_is_400_naming_it_and_those_it_takes(
    stack: Stack,
    functions: FunctionRunner,
    route: str,
    unknown: dict[str, str],
    known: dict[str, str],
) -> None:
    takes = GET_ROUTES[route]
    query = {**(known if takes else {}), **unknown}
    path_parameters = {"request_id": "some-request"} if route.count("/") == 3 else None
    before = dedupe_items(stack)

    answer = submit(functions, get_event(route, query, path_parameters))

    assert answer["statusCode"] == 400, answer["body"]
    problems = body(answer)["errors"]
    # Each unknown one named; a known one with a bad value ("pipeline=2") named too.
    named = {problem["field"] for problem in problems}
    assert set(unknown) <= named <= set(unknown) | {"pipeline"}
    for problem in problems:
        if problem["field"] in unknown:
            assert problem["problem"].endswith(
                f"this route takes {', '.join(takes)}" if takes else "this route takes no query parameters"
            )
    assert "requests" not in body(answer)
    assert dedupe_items(stack) == before


def test_a_misspelt_filter_is_refused_not_ignored(stack: Stack, functions: FunctionRunner) -> None:
    _catalog_rows(stack, "ada", 6)

    answer = submit(functions, list_event("ada", stauts="FAILED"))
    both = submit(functions, list_event("ada", stauts="FAILED", limit="0"))

    assert answer["statusCode"] == 400
    assert body(answer)["errors"] == [
        {
            "field": "stauts",
            "problem": "is not a query parameter of this route; "
            "this route takes cursor, limit, pipeline, status",
        }
    ]
    assert both["statusCode"] == 400
    assert [error["field"] for error in body(both)["errors"]] == ["limit", "stauts"]
