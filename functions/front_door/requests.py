"""Accepting requests exactly once, and reading them back for their caller.

Deduplication is Powertools Idempotency on (caller sub, Idempotency-Key) with the body as the
validated payload; `front_door.records` covers the gap it leaves when the function dies
mid-acceptance. The front door reads the catalog, never writes it: the core writer alone does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from pydantic import Field, TypeAdapter

from contracts.catalog import CatalogReader, CatalogRow, CustomModels, ToolRegistry
from contracts.customization import (
    SERVICE_NAMES,
    Backend,
    UnsupportedCustomization,
    backend_for,
    hyperparameters_for,
)
from contracts.events import CANCEL_REQUESTED, REQUEST_ACCEPTED
from contracts.requests import (
    AgentRequest,
    AnyRequest,
    CustomizeRequest,
    InvokeRequest,
    SubmitRequest,
    stages_of,
)
from front_door.listings import Cursors, DatasetListing, RequestListing
from front_door.records import AcceptanceRecords, AcceptedRequest, RequestIdReservations
from front_door.upload_urls import DatasetUploads
from front_door.views import RequestView, handed_over
from shared import aws
from shared.config import CommaList, HubSettings
from shared.hub import HubPublisher, new_event, split_s3_uri

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

SOURCE = "front-door"
RESULT_URL_SECONDS = 900
_submit_adapter: TypeAdapter[AnyRequest] = TypeAdapter(SubmitRequest)


class FrontDoorSettings(HubSettings):
    IDEMPOTENCY_TABLE: str
    CATALOG_TABLE: str
    DEDUPE_WINDOW_SECONDS: int = Field(gt=0)
    ALLOWED_MODEL_IDS: CommaList
    DEFAULT_MODEL_ID: str
    MAX_REQUEST_BYTES: int = Field(default=1024 * 1024, gt=0)
    DATASET_MAX_BYTES: int = Field(default=1024**3, gt=0)
    DATASET_UPLOAD_SECONDS: int = Field(default=900, gt=0, le=7 * 86_400)
    HYPERPOD_CLUSTER_ARN: str = ""


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
        self._reservations = RequestIdReservations(settings.IDEMPOTENCY_TABLE, dynamodb)
        self._acceptances = AcceptanceRecords(settings.IDEMPOTENCY_TABLE, dynamodb)
        self.datasets = DatasetUploads(
            settings.DATA_LAKE_BUCKET, s3, settings.DATASET_MAX_BYTES, settings.DATASET_UPLOAD_SECONDS
        )
        self._catalog = CatalogReader(settings.CATALOG_TABLE, dynamodb)
        self._tools = ToolRegistry(settings.CATALOG_TABLE, dynamodb)
        self._models = CustomModels(settings.CATALOG_TABLE, dynamodb)
        self.listings = RequestListing(
            settings.CATALOG_TABLE, dynamodb, Cursors(settings.IDEMPOTENCY_TABLE, dynamodb)
        )
        self.dataset_listing = DatasetListing(settings.DATA_LAKE_BUCKET, s3)
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
        request_id = self._reservations.reserve(
            submission["subject"],
            submission["idempotency_key"],
            body_hash(submission["request"]),
            self._settings.DEDUPE_WINDOW_SECONDS,
        )
        accepted_at = datetime.now(UTC)
        self._acceptances.record(
            AcceptedRequest(
                request_id, submission["subject"], request.pipeline, stages, accepted_at.isoformat()
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
                backend = backend_for(request.input)
                hyperparameters_for(request.input)
            except UnsupportedCustomization as error:
                raise InvalidRequest(error.field, error.problem) from error
            if backend == Backend.HYPERPOD and not self._settings.HYPERPOD_CLUSTER_ARN:
                raise InvalidRequest(
                    "input",
                    f"{request.input.method.value} runs only on {SERVICE_NAMES[backend]}, and this "
                    "deployment has no HyperPod cluster: deploy the stack with the HyperPodClusterArn "
                    "parameter set to "
                    "the ARN of an EKS-orchestrated SageMaker HyperPod cluster",
                )
            for field, dataset in (
                ("input.dataset_id", request.input.dataset_id),
                ("input.validation_dataset_id", request.input.validation_dataset_id),
            ):
                if dataset and not self.datasets.exists(subject, dataset):
                    raise InvalidRequest(
                        field, f"no dataset {dataset} was uploaded by this caller (POST /v1/datasets)"
                    )
        if isinstance(request, InvokeRequest | AgentRequest) and request.input.custom_model:
            if self._models.deployed(subject, request.input.custom_model) is None:
                raise InvalidRequest(
                    "input.custom_model",
                    f"this caller has no deployed model named {request.input.custom_model!r} "
                    '(GET /v1/models lists yours; customize with "deploy": true to deploy one)',
                )
        elif isinstance(request, InvokeRequest | AgentRequest):
            model_id = request.input.model_id or self._settings.DEFAULT_MODEL_ID
            if model_id not in self._settings.ALLOWED_MODEL_IDS:
                allowed = ", ".join(self._settings.ALLOWED_MODEL_IDS)
                raise InvalidRequest(
                    "input.model_id", f"{model_id!r} is not allowed here; allowed: {allowed}"
                )
        if isinstance(request, AgentRequest) and request.input.tools is not None:
            registered = self._tools.available()
            unknown = [name for name in request.input.tools if name not in registered]
            if unknown:
                known = ", ".join(sorted(registered)) or "none"
                raise InvalidRequest(
                    "input.tools", f"not registered: {', '.join(unknown)}; registered: {known}"
                )

    def models(self, subject: str) -> list[dict[str, Any]]:
        """The caller's customized models (GET /v1/models), newest first."""
        models = [
            {
                "name": model.name,
                "request_id": model.request_id,
                "registered_at": model.registered_at,
                "method": model.method,
                "technique": model.technique,
                "base_model": model.base_model,
                "datasets": model.datasets,
                "metrics_location": model.metrics_location,
                "model_arn": model.arn,
                "artifacts_uri": model.artifacts_uri,
                "invocable_arn": model.deployment_arn,
            }
            for model in self._models.of_caller(subject)
        ]
        # The models' lake objects, as a request's view hands them out: a link, or withheld.
        return [
            handed_over(
                model, self._readable_under((f"customization/{model['request_id']}/",)), self._presign
            )
            for model in models
        ]

    def tools(self) -> list[dict[str, Any]]:
        """The tools an agent may use now (GET /v1/tools)."""
        return [spec.model_dump() for _, spec in sorted(self._tools.available().items())]

    def _owned(self, subject: str, request_id: str) -> RequestView:
        row = self._catalog.get(request_id)
        view: RequestView | None
        if row is not None:
            view = RequestView.of_catalog(row, self._presign, self._readable_by(row))
        else:
            # Until the core writer has caught up, the front door's own record of the acceptance answers.
            accepted = self._acceptances.get(request_id)
            view = RequestView.of_acceptance(accepted) if accepted else None
        if view is None or view.subject != subject:
            # Another caller's request is indistinguishable from a missing one.
            raise RequestNotFound(request_id)
        return view

    def status(self, subject: str, request_id: str) -> dict[str, Any]:
        return self._owned(subject, request_id).body()

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

    def _readable_by(self, row: CatalogRow) -> Callable[[str], bool]:
        """Which lake objects a request's caller may fetch: what was stored for that request."""
        prefixes = (
            *(f"{folder}/{row.request_id}/" for folder in ("results", "errors", "progress", "customization")),
            f"work/preprocess/{row.subject}/{row.request_id}/",
        )
        return self._readable_under(prefixes)

    def _readable_under(self, prefixes: tuple[str, ...]) -> Callable[[str], bool]:
        """An object (not a folder: a folder has no URL) of the lake under one of `prefixes`."""

        def readable(uri: str) -> bool:
            bucket, key = split_s3_uri(uri)
            in_lake = bucket == self._settings.DATA_LAKE_BUCKET
            return in_lake and key.startswith(prefixes) and not key.endswith("/")

        return readable

    def _presign(self, ref: str) -> str:
        bucket, key = split_s3_uri(ref)
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=RESULT_URL_SECONDS
        )
        return url
