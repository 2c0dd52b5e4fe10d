"""How the bench names the AWS requests it counts, and what else it reads from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agenthub.bench.counting import classify, dynamodb_write_units
from agenthub.bench.per_request import ingested_log_bytes, platform_lines_sent
from agenthub.bench.profile import summarize
from agenthub.bench.samples import fresh_ids

SCOPE = "AWS4-HMAC-SHA256 Credential=local/20261201/us-east-1/{service}/aws4_request, SignedHeaders=host"


def signed(service: str, target: str = "") -> dict[str, str]:
    return {"authorization": SCOPE.format(service=service), "x-amz-target": target}


@pytest.mark.parametrize(
    ("method", "path", "headers", "query", "body", "expected"),
    [
        ("POST", "/", signed("dynamodb", "DynamoDB_20120810.PutItem"), "", b"{}", ("dynamodb", "PutItem")),
        ("POST", "/", signed("sqs", "AmazonSQS.ReceiveMessage"), "", b"{}", ("sqs", "ReceiveMessage")),
        ("POST", "/", signed("sns"), "", b"Action=Publish&TopicArn=x", ("sns", "Publish")),
        ("PUT", "/bucket/key", signed("s3"), "", b"data", ("s3", "PutObject")),
        ("GET", "/bucket/key", signed("s3"), "", b"", ("s3", "GetObject")),
        ("GET", "/bucket", signed("s3"), "list-type=2", b"", ("s3", "ListObjects")),
        ("POST", "/2015-03-31/functions/f/invocations", signed("lambda"), "", b"{}", ("lambda", "Invoke")),
    ],
)
def test_requests_are_named_as_botocore_sends_them(
    method: str, path: str, headers: dict[str, str], query: str, body: bytes, expected: tuple[str, str]
) -> None:
    assert classify(method, path, headers, query, body) == expected


def test_a_put_is_as_many_write_units_as_its_item_has_kilobytes() -> None:
    small = json.dumps({"Item": {"id": {"S": "x"}}}).encode()
    large = json.dumps({"Item": {"id": {"S": "x"}, "body": {"S": "y" * 3000}}}).encode()

    assert dynamodb_write_units("PutItem", small) == 1
    assert dynamodb_write_units("PutItem", large) == 3
    assert dynamodb_write_units("UpdateItem", large) == 1


def test_fresh_ids_replace_every_uuid_consistently_and_nothing_else() -> None:
    text = (
        '{"a": "5b1f0a6e-2c3d-4e5f-9a0b-1c2d3e4f5a6b", "b": "5b1f0a6e-2c3d-4e5f-9a0b-1c2d3e4f5a6b", '
        '"c": "2f6b7a3e-1c4d-4e5f-8a9b-0c1d2e3f4a5b", "d": "ada-2026-11-25-002"}'
    )

    fresh = json.loads(fresh_ids(text))

    assert fresh["a"] == fresh["b"] != "5b1f0a6e-2c3d-4e5f-9a0b-1c2d3e4f5a6b"
    assert fresh["c"] not in (fresh["a"], "2f6b7a3e-1c4d-4e5f-8a9b-0c1d2e3f4a5b")
    assert fresh["d"] == "ada-2026-11-25-002"


def test_a_profile_is_summed_by_package_and_by_frame() -> None:
    raw = [
        'process 10:"agenthub local up";serve (werkzeug/serving.py);dispatch (moto/core/responses.py) 6',
        "serve (werkzeug/serving.py);sign (moto/sns/models.py) 2",
        "serve (werkzeug/serving.py);loads (json/decoder.py);raw_decode (json/decoder.py) 1",
        "serve (werkzeug/serving.py);wait (threading.py) 1",
    ]

    summary = summarize(raw)

    assert summary.samples == 10
    assert summary.inclusive[0] == ("serve (werkzeug/serving.py)", 10)
    assert summary.exclusive[:2] == [
        ("dispatch (moto/core/responses.py)", 6),
        ("sign (moto/sns/models.py)", 2),
    ]
    assert dict(summary.by_package) == {"moto/core": 6, "moto/sns": 2, "json": 1, "python": 1}


def test_lambdas_own_lines_count_only_where_the_system_log_level_sends_them(tmp_path: Path) -> None:
    log = tmp_path / "Function.log"
    log.write_bytes(
        b"START RequestId: 1 Version: $LATEST\n"
        b'{"level":"INFO","message":"catalog updated"}\n'
        b"END RequestId: 1\n"
        b"REPORT RequestId: 1\tDuration: 3.00 ms\n"
    )

    assert platform_lines_sent({})
    assert platform_lines_sent({"LoggingConfig": {"SystemLogLevel": "INFO"}})
    assert not platform_lines_sent({"LoggingConfig": {"LogFormat": "JSON", "SystemLogLevel": "WARN"}})
    assert ingested_log_bytes(log, platform_logged=True) == log.stat().st_size
    assert ingested_log_bytes(log, platform_logged=False) == len(
        b'{"level":"INFO","message":"catalog updated"}\n'
    )
