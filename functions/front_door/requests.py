"""Accepting requests exactly once, and reading them back for their caller.

Deduplication is Powertools Idempotency on (caller sub, Idempotency-Key) with the body as the
validated payload. One gap it leaves is covered by `RequestIdLedger`: if the function dies after
publishing but before the idempotency record is marked complete, the client's retry runs again
once the in-progress record expires; the ledger hands that retry the same request id, and the
deterministic event id lets every consumer drop the second `request.accepted`.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from botocore.exceptions import ClientError
from pydantic import Field, TypeAdapter

from front_door.datasets import DatasetUploads
from shared import aws
from shared.catalog import CatalogReader, CatalogRow
from shared.config import CommaList, Settings
from shared.contracts import (
    CANCEL_REQUESTED,
    REQUEST_ACCEPTED,
    AnyRequest,
    CustomizeRequest,
    InvokeRequest,
    RequestStatus,
    SubmitRequest,
    stages_of,
)
from shared.customization_contract import UnsupportedCustomization, backend_for, hyperparameters_for
from shared.hub import HubPublisher, new_event, split_s3_uri

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

SOURCE = "front-door"
_ACCEPTED = "accepted#"
RESULT_URL_SECONDS = 900
_submit_adapter: TypeAdapter[AnyRequest] = TypeAdapter(SubmitRequest)


class FrontDoorSettings(Settings):
    HUB_TOPIC_ARN: str
    DATA_LAKE_BUCKET: str
    IDEMPOTENCY_TABLE: str
    CATALOG_TABLE: str
    DEDUPE_WINDOW_SECONDS: int = Field(gt=0)
    ALLOWED_MODEL_IDS: CommaList
    DEFAULT_MODEL_ID: str
    MAX_REQUEST_BYTES: int = Field(default=1024 * 1024, gt=0)
    DATASET_MAX_BYTES: int = Field(default=1024**3, gt=0)
    DATASET_UPLOAD_SECONDS: int = Field(default=900, gt=0, le=7 * 86_400)


class InvalidRequest(ValueError):
    """The request is well-formed but asks for something this deployment does not allow."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class RequestNotFound(LookupError):
    """No request with that id belongs to the caller."""


class RequestAlreadyFinished(ValueError):
    """The request reached a terminal status; there is nothing left to cancel."""


@dataclass(frozen=True)
class Acceptance:
    request_id: str
    pipeline: str
    stages: tuple[str, ...]
    replayed: bool

    def body(self, base_path: str = "") -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "status": "ACCEPTED",
            "pipeline": self.pipeline,
            "stages": list(self.stages),
            "links": {"self": self.location(base_path)},
        }

    def location(self, base_path: str = "") -> str:
        return f"{base_path}/v1/requests/{self.request_id}"


class RequestIdLedger:
    """Which request id each (caller, Idempotency-Key) was given, and whose each accepted request is.

    Both last as long as the dedupe window. The second lets the caller read and cancel a request
    the moment it is accepted, before the core writer has put it in the catalog.
    """

    def __init__(self, table: str, dynamodb: DynamoDBClient) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def reserve(self, subject: str, key: str, body_hash: str, window_seconds: int) -> str:
        now = int(time.time())
        item_id = "request-id#" + hashlib.sha256(f"{subject}\x00{key}".encode()).hexdigest()
        request_id = str(uuid.uuid4())
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": item_id},
                    "request_id": {"S": request_id},
                    "body_hash": {"S": body_hash},
                    "expiration": {"N": str(now + window_seconds)},
                },
                ConditionExpression="attribute_not_exists(id) OR expiration < :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            earlier = cast("dict[str, Any]", error.response.get("Item") or {})
            if earlier.get("body_hash", {}).get("S") != body_hash:
                raise IdempotencyValidationError(
                    "Idempotency-Key was already used with a different request body"
                ) from error
            return str(earlier["request_id"]["S"])
        return request_id

    def record_acceptance(self, row: CatalogRow, window_seconds: int) -> None:
        """Idempotent: a retry of the same acceptance writes the same request again."""
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "id": {"S": _ACCEPTED + row.request_id},
                "subject": {"S": row.subject},
                "pipeline": {"S": row.pipeline},
                "stages": {"L": [{"S": stage} for stage in row.stages]},
                "accepted_at": {"S": row.updated_at},
                "expiration": {"N": str(int(time.time()) + window_seconds)},
            },
        )

    def acceptance(self, request_id: str) -> CatalogRow | None:
        """The request as accepted (ACCEPTED, nothing else known yet), or None."""
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"id": {"S": _ACCEPTED + request_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return CatalogRow(
            request_id=request_id,
            subject=item["subject"]["S"],
            pipeline=item["pipeline"]["S"],
            status=RequestStatus.ACCEPTED,
            stages=[stage["S"] for stage in item["stages"]["L"]],
            created_at=item["accepted_at"]["S"],
            updated_at=item["accepted_at"]["S"],
        )


def body_hash(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}


class RequestService:
    def __init__(
        self,
        settings: FrontDoorSettings,
        dynamodb: DynamoDBClient,
        s3: S3Client,
        publisher: HubPublisher,
        persistence: DynamoDBPersistenceLayer,
    ) -> None:
        self._settings = settings
        self._s3 = s3
        self._publisher = publisher
        self._ledger = RequestIdLedger(settings.IDEMPOTENCY_TABLE, dynamodb)
        self.datasets = DatasetUploads(
            settings.DATA_LAKE_BUCKET, s3, settings.DATASET_MAX_BYTES, settings.DATASET_UPLOAD_SECONDS
        )
        self._catalog = CatalogReader(settings.CATALOG_TABLE, dynamodb)
        self.idempotency = IdempotencyConfig(
            event_key_jmespath="[subject, idempotency_key]",
            payload_validation_jmespath="request",
            expires_after_seconds=settings.DEDUPE_WINDOW_SECONDS,
            raise_on_no_idempotency_key=True,
            response_hook=_mark_replayed,
        )
        self._accept_once = idempotent_function(
            data_keyword_argument="submission", config=self.idempotency, persistence_store=persistence
        )(self._accept)

    @classmethod
    def from_environment(cls, settings: FrontDoorSettings) -> RequestService:
        dynamodb = aws.dynamodb()
        persistence = DynamoDBPersistenceLayer(
            table_name=settings.IDEMPOTENCY_TABLE, key_attr="id", boto3_client=dynamodb
        )
        publisher = HubPublisher.for_topic(settings.HUB_TOPIC_ARN, settings.DATA_LAKE_BUCKET)
        return cls(settings, dynamodb, aws.s3(), publisher, persistence)

    def register_context(self, context: LambdaContext) -> None:
        self.idempotency.register_lambda_context(context)

    def accept(self, subject: str, idempotency_key: str, request: AnyRequest) -> Acceptance:
        self._check_allowed(subject, request)
        submission = {
            "subject": subject,
            "idempotency_key": idempotency_key,
            "request": request.model_dump(mode="json"),
        }
        outcome = self._accept_once(submission=submission)
        return Acceptance(
            request_id=outcome["request_id"],
            pipeline=outcome["pipeline"],
            stages=tuple(outcome["stages"]),
            replayed=bool(outcome.get("replayed")),
        )

    def _accept(self, submission: dict[str, Any]) -> dict[str, Any]:
        request = _submit_adapter.validate_python(submission["request"])
        stages = stages_of(request)
        request_id = self._ledger.reserve(
            submission["subject"],
            submission["idempotency_key"],
            body_hash(submission["request"]),
            self._settings.DEDUPE_WINDOW_SECONDS,
        )
        accepted_at = datetime.now(UTC)
        self._ledger.record_acceptance(
            CatalogRow(
                request_id=request_id,
                subject=submission["subject"],
                pipeline=request.pipeline,
                status=RequestStatus.ACCEPTED,
                stages=list(stages),
                updated_at=accepted_at.isoformat(),
            ),
            self._settings.DEDUPE_WINDOW_SECONDS,
        )
        self._publisher.publish(
            new_event(
                event_type=REQUEST_ACCEPTED,
                request_id=request_id,
                pipeline=request.pipeline,
                source=SOURCE,
                subject=submission["subject"],
                payload={"input": submission["request"]["input"], "stages": list(stages)},
                first_stage=stages[0],
                occurred_at=accepted_at,
            )
        )
        return {"request_id": request_id, "pipeline": request.pipeline, "stages": list(stages)}

    def _check_allowed(self, subject: str, request: AnyRequest) -> None:
        if isinstance(request, CustomizeRequest):
            try:
                backend_for(request.input)
                hyperparameters_for(request.input)
            except UnsupportedCustomization as error:
                raise InvalidRequest(error.field, error.problem) from error
            for field, dataset in (
                ("input.dataset_id", request.input.dataset_id),
                ("input.validation_dataset_id", request.input.validation_dataset_id),
            ):
                if dataset and not self.datasets.exists(subject, dataset):
                    raise InvalidRequest(
                        field, f"no dataset {dataset} was uploaded by this caller (POST /v1/datasets)"
                    )
        if isinstance(request, InvokeRequest):
            model_id = request.input.model_id or self._settings.DEFAULT_MODEL_ID
            if model_id not in self._settings.ALLOWED_MODEL_IDS:
                allowed = ", ".join(self._settings.ALLOWED_MODEL_IDS)
                raise InvalidRequest(
                    "input.model_id", f"{model_id!r} is not allowed here; allowed: {allowed}"
                )

    def _owned(self, subject: str, request_id: str) -> CatalogRow:
        # Until the core writer has caught up, the front door's own record of the acceptance answers.
        row = self._catalog.get(request_id) or self._ledger.acceptance(request_id)
        if row is None or row.subject != subject:
            # Another caller's request is indistinguishable from a missing one.
            raise RequestNotFound(request_id)
        return row

    def status(self, subject: str, request_id: str) -> dict[str, Any]:
        return self._view(self._owned(subject, request_id))

    def cancel(self, subject: str, request_id: str) -> dict[str, Any]:
        """Asks the request's pipeline, through the hub, to stop; it answers with <stage>.cancelled."""
        row = self._owned(subject, request_id)
        if row.status.is_terminal:
            raise RequestAlreadyFinished(f"request {request_id} already ended {row.status.value}")
        self._publisher.publish(
            new_event(
                event_type=CANCEL_REQUESTED,
                request_id=request_id,
                pipeline=row.pipeline,
                source=SOURCE,
                subject=subject,
                payload={"status_when_asked": row.status.value},
            )
        )
        return {"request_id": request_id, "status": row.status.value, "cancel_requested": True}

    def _view(self, row: CatalogRow) -> dict[str, Any]:
        view: dict[str, Any] = {
            "request_id": row.request_id,
            "pipeline": row.pipeline,
            "status": row.status.value,
            "stages": row.stages,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "result": row.result.decoded() if row.result else None,
            "error": row.error.decoded() if row.error else None,
            "progress": row.progress.decoded() if row.progress else None,
            "history": [
                {
                    "event_type": entry.event_type,
                    "status": entry.status.value,
                    "occurred_at": entry.occurred_at,
                }
                for entry in sorted(row.history, key=lambda entry: entry.occurred_at)
            ],
        }
        for name, stored in (("result", row.result), ("error", row.error)):
            if stored is not None and stored.ref is not None:
                view[f"{name}_url"] = self._presign(stored.ref)
        return view

    def _presign(self, ref: str) -> str:
        bucket, key = split_s3_uri(ref)
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=RESULT_URL_SECONDS
        )
        return url
