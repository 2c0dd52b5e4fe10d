"""The caller's own lists: their requests (newest first, a page at a time) and their datasets.

Requests come from the catalog's `by-subject` index (keys only, the caller's sub as its hash key,
so another caller's rows are never read), then the rows' summary attributes by BatchGetItem.
A page's cursor is a token this API issued (`Cursors`): opaque to callers, refused when it was
not issued, was changed, was issued to another caller or has expired.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contracts.catalog import REQUEST_PK_PREFIX
from contracts.customization import DATASETS_PREFIX

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

BY_SUBJECT_INDEX = "by-subject"
_INDEX_KEY = ("subject", "created_at", "pk", "sk")
_SUMMARY = ("request_id", "pipeline", "#status", "created_at", "updated_at")
# A filtered page may need more than one index page; this bounds the work of one call (a short
# page with a cursor is still a correct page).
MAX_INDEX_PAGES = 5
BATCH_GET_ATTEMPTS = 5
# How long a cursor can be used: far longer than any walk through the pages takes.
CURSOR_SECONDS = 86_400
_CURSOR = "cursor#"
_NOT_ISSUED = "is not a cursor this API returned to this caller, or it has expired; start from the first page"


class BadCursor(ValueError):
    """The cursor was not made by this API for this caller."""


class CatalogBusy(RuntimeError):
    """The catalog kept rows unprocessed through every attempt (throttled): answer 503, retry later."""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    cursor: str | None


class Cursors:
    """The cursors this API handed out, kept in the front door's own table.

    A cursor is a random token (192 bits: never guessed); the index key its page continues from
    is stored for CURSOR_SECONDS under the token's hash, with the caller it was given to. So a
    cursor this API never issued, one changed or cut short, another caller's, or one past its time
    is refused, and a cursor tells nothing of the catalog's keys (docs/reliability.md #33).

    Stored rather than signed: a signed cursor needs a secret of the stack's own to sign with (a
    Secrets Manager secret, or a KMS HMAC key at $1 a month), one more resource to keep, rotate and
    create in the local cloud (whose deployer makes neither), and the signed key would still travel
    to the caller. Encrypting it under the hub key (KMS Encrypt) needs no new resource, but KMS
    answers a cursor made under a key of another account AccessDeniedException (moto: one of any
    other key), as it answers a missing permission, so a foreign cursor could not be told from the
    stack's own fault:
    https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html#API_Decrypt_Errors
    A stored one needs nothing the stack lacks: one small write for each page that has a next
    one, and one consistent read for each page asked for by cursor, in a table the front door
    already uses; DynamoDB's TTL removes them.
    """

    def __init__(self, table: str, dynamodb: DynamoDBClient) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def issue(self, subject: str, key: dict[str, Any]) -> str:
        cursor = secrets.token_urlsafe(24)
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "id": {"S": _cursor_id(cursor)},
                "subject": {"S": subject},
                "start_key": {"S": json.dumps({name: key[name] for name in _INDEX_KEY})},
                "expiration": {"N": str(int(time.time()) + CURSOR_SECONDS)},
            },
        )
        return cursor

    def start_of(self, subject: str, cursor: str) -> dict[str, Any]:
        """The index key the page after `cursor` starts from."""
        item = self._dynamodb.get_item(
            TableName=self._table,
            Key={"id": {"S": _cursor_id(cursor)}},
            # The cursor may have been written a moment ago, by another instance.
            ConsistentRead=True,
        ).get("Item")
        # DynamoDB's TTL deletes an expired item within days, not at once.
        if item is None or item["subject"]["S"] != subject or int(item["expiration"]["N"]) < int(time.time()):
            raise BadCursor(_NOT_ISSUED)
        start: dict[str, Any] = json.loads(item["start_key"]["S"])
        return start


def _cursor_id(cursor: str) -> str:
    # Keyed by the hash: whoever reads the table cannot page as the caller from what is stored.
    return _CURSOR + hashlib.sha256(cursor.encode("utf-8", "surrogatepass")).hexdigest()


class RequestListing:
    def __init__(self, table: str, dynamodb: DynamoDBClient, cursors: Cursors) -> None:
        self._table = table
        self._dynamodb = dynamodb
        self._cursors = cursors

    def page(
        self,
        subject: str,
        limit: int,
        cursor: str | None = None,
        pipeline: str | None = None,
        status: str | None = None,
    ) -> Page:
        start = self._cursors.start_of(subject, cursor) if cursor is not None else None
        found: list[dict[str, Any]] = []
        last_key: dict[str, Any] | None = None
        for _ in range(MAX_INDEX_PAGES):
            arguments: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": BY_SUBJECT_INDEX,
                "KeyConditionExpression": "subject = :subject",
                # Model rows share the index (they too carry subject and created_at).
                "FilterExpression": "begins_with(pk, :requests)",
                "ExpressionAttributeValues": {
                    ":subject": {"S": subject},
                    ":requests": {"S": REQUEST_PK_PREFIX},
                },
                "ScanIndexForward": False,
                "Limit": limit,
            }
            if start:
                arguments["ExclusiveStartKey"] = start
            answer = self._dynamodb.query(**arguments)
            keys = answer["Items"]
            rows = self._rows([{"pk": key["pk"], "sk": key["sk"]} for key in keys])
            for key in keys:
                row = rows.get(key["pk"]["S"])
                last_key = key
                if (
                    row is None
                    or pipeline not in (None, row["pipeline"])
                    or status not in (None, row["status"])
                ):
                    continue
                found.append(row)
                if len(found) == limit:
                    more = key is not keys[-1] or "LastEvaluatedKey" in answer
                    return Page(found, self._cursors.issue(subject, key) if more else None)
            start = answer.get("LastEvaluatedKey")
            if not start:
                return Page(found, None)
        return Page(found, self._cursors.issue(subject, last_key) if last_key else None)

    def _rows(self, keys: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Summary attributes of the rows, by pk. BatchGetItem may leave keys unprocessed under
        load; they are asked again, a bounded number of times."""
        rows: dict[str, dict[str, Any]] = {}
        pending: list[dict[str, Any]] = keys
        for _ in range(BATCH_GET_ATTEMPTS):
            if not pending:
                return rows
            answer = self._dynamodb.batch_get_item(
                RequestItems={
                    self._table: {
                        "Keys": pending,
                        "ProjectionExpression": ", ".join(("pk", *_SUMMARY)),
                        "ExpressionAttributeNames": {"#status": "status"},
                    }
                }
            )
            for item in answer["Responses"].get(self._table, []):
                rows[item["pk"]["S"]] = {
                    "request_id": item["request_id"]["S"],
                    "pipeline": item["pipeline"]["S"],
                    "status": item["status"]["S"],
                    "created_at": item.get("created_at", {}).get("S"),
                    "updated_at": item["updated_at"]["S"],
                }
            unprocessed = answer.get("UnprocessedKeys", {}).get(self._table)
            pending = list(unprocessed["Keys"]) if unprocessed else []
        raise CatalogBusy(
            f"the catalog left {len(pending)} row(s) unread after {BATCH_GET_ATTEMPTS} attempts"
        )


class DatasetListing:
    """The caller's uploaded datasets, from their own prefix of the lake."""

    def __init__(self, bucket: str, s3: S3Client) -> None:
        self._bucket = bucket
        self._s3 = s3

    def all(self, subject: str) -> list[dict[str, Any]]:
        prefix = f"{DATASETS_PREFIX}{subject}/"
        datasets: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        while True:
            answer = self._s3.list_objects_v2(**arguments)
            for entry in answer.get("Contents", []):
                name = entry["Key"][len(prefix) :]
                if "/" in name or not name.endswith(".jsonl"):
                    continue
                datasets.append(
                    {
                        "dataset_id": name.removesuffix(".jsonl"),
                        "bytes": entry["Size"],
                        "uploaded_at": entry["LastModified"].isoformat(),
                    }
                )
            if not answer.get("IsTruncated"):
                break
            arguments["ContinuationToken"] = answer["NextContinuationToken"]
        return sorted(datasets, key=lambda dataset: str(dataset["uploaded_at"]), reverse=True)
