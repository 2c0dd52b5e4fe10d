"""The catalog row of a request: written only by the core writer, read by the front door.

Large values (inputs, results, errors) live in the data lake and the row links them (`*_ref`);
small ones stay in the row as JSON text, which saves an S3 PUT and GET per request.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.requests import RequestStatus
from contracts.tools import ToolSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REQUEST_PK_PREFIX = "REQUEST#"
REQUEST_SK = "REQUEST"
MODEL_PK_PREFIX = "MODEL#"
# The sparse index of requests not yet finished, by pipeline and time of their latest event.
OPEN_REQUESTS_INDEX = "open-requests"
OPEN_PIPELINE = "open_pipeline"


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    event_type: str
    occurred_at: str
    status: RequestStatus
    note: str | None = None  # why the event left the status as it was, or changed a final one


class StoredValue(BaseModel):
    """A JSON value kept inline or in the data lake."""

    model_config = ConfigDict(frozen=True)

    inline: str | None = None
    ref: str | None = None

    def decoded(self) -> Any:
        return json.loads(self.inline) if self.inline is not None else None


class CatalogRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    request_id: str
    subject: str
    pipeline: str
    status: RequestStatus
    stages: list[str] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str
    input: StoredValue | None = None
    result: StoredValue | None = None
    error: StoredValue | None = None
    stage_outputs: dict[str, StoredValue] = Field(default_factory=dict)
    progress: StoredValue | None = None
    progress_at: str | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    version: int = 0

    def seen(self, event_id: str) -> bool:
        return any(entry.event_id == event_id for entry in self.history)


class CatalogReader:
    """Reads request rows. The core writer reads consistently (it is about to write); readers need not."""

    def __init__(self, table: str, dynamodb: DynamoDBClient, consistent: bool = False) -> None:
        self._table = table
        self._dynamodb = dynamodb
        self._consistent = consistent

    def get(self, request_id: str) -> CatalogRow | None:
        item = self._dynamodb.get_item(
            TableName=self._table, Key=request_key(request_id), ConsistentRead=self._consistent
        ).get("Item")
        return from_item(item) if item else None


def request_key(request_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"{REQUEST_PK_PREFIX}{request_id}"}, "sk": {"S": REQUEST_SK}}


def to_item(row: CatalogRow) -> dict[str, Any]:
    """The DynamoDB item for a row. Nested values are stored as one JSON string attribute."""
    item: dict[str, Any] = {
        **request_key(row.request_id),
        "request_id": {"S": row.request_id},
        "subject": {"S": row.subject},
        "pipeline": {"S": row.pipeline},
        "status": {"S": row.status.value},
        "updated_at": {"S": row.updated_at},
        "version": {"N": str(row.version)},
        "body": {
            "S": row.model_dump_json(exclude={"request_id", "subject", "pipeline", "status", "version"})
        },
    }
    if row.created_at:
        item["created_at"] = {"S": row.created_at}
    if not row.status.is_terminal:
        # Only requests still open are in the sparse `open-requests` index the sweeper reads.
        item[OPEN_PIPELINE] = {"S": row.pipeline}
    return item


def from_item(item: dict[str, Any]) -> CatalogRow:
    body = json.loads(item["body"]["S"])
    return CatalogRow.model_validate(
        {
            **body,
            "request_id": item["request_id"]["S"],
            "subject": item["subject"]["S"],
            "pipeline": item["pipeline"]["S"],
            "status": item["status"]["S"],
            "version": int(item["version"]["N"]),
        }
    )


# The tool registry: one partition, a row per tool, so listing every tool is one Query.
TOOLS_PK = "TOOLS"


class RegisteredTool(BaseModel):
    """A tool in the registry; a withdrawn one stays as a tombstone, so a late registration of an
    older version cannot bring it back."""

    model_config = ConfigDict(frozen=True)

    spec: ToolSpec
    stack: str
    changed_at: str  # when the registry event that wrote the row occurred
    withdrawn: bool = False


def tool_key(name: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": TOOLS_PK}, "sk": {"S": name}}


def tool_item(tool: RegisteredTool) -> dict[str, Any]:
    return {
        **tool_key(tool.spec.name),
        "changed_at": {"S": tool.changed_at},
        "withdrawn": {"BOOL": tool.withdrawn},
        "body": {"S": tool.model_dump_json()},
    }


class ToolRegistry:
    """Reads the registry (the front door and the agent microservice; the core writer alone writes it)."""

    def __init__(self, table: str, dynamodb: DynamoDBClient) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def available(self) -> dict[str, ToolSpec]:
        """Every tool an agent may use now, by name."""
        tools: dict[str, ToolSpec] = {}
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :tools",
            "ExpressionAttributeValues": {":tools": {"S": TOOLS_PK}},
        }
        while True:
            page = self._dynamodb.query(**arguments)
            for item in page["Items"]:
                tool = RegisteredTool.model_validate_json(item["body"]["S"])
                if not tool.withdrawn:
                    tools[tool.spec.name] = tool.spec
            if "LastEvaluatedKey" not in page:
                return tools
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# Customized models: `MODEL#<caller>#<name>` rows, one per job that produced the name (the core
# writer registers them from customization.completed). The catalog's by-subject index (keys only)
# finds a caller's rows; each model row is then read whole.
CATALOG_BY_SUBJECT_INDEX = "by-subject"


class RegisteredModel(BaseModel):
    """A customized model as the catalog keeps it: what trained it, and where it can be invoked."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str
    request_id: str = ""
    registered_at: str = ""
    method: str | None = None
    technique: str | None = None
    base_model: str | None = None
    arn: str | None = None
    artifacts_uri: str | None = None
    datasets: list[dict[str, Any]] = Field(default_factory=list)
    metrics_location: str | None = None
    deployment_arn: str | None = None

    @property
    def invocable(self) -> bool:
        return bool(self.deployment_arn)


def model_pk(subject: str, name: str) -> str:
    return f"{MODEL_PK_PREFIX}{subject}#{name}"


def _registered(item: dict[str, Any]) -> RegisteredModel:
    return RegisteredModel.model_validate(
        {
            **json.loads(item["model"]["S"]),
            "request_id": item.get("request_id", {}).get("S", ""),
            "registered_at": item.get("created_at", {}).get("S", ""),
        }
    )


class CustomModels:
    """Reads a caller's customized models (the front door, and the pipelines that invoke them)."""

    def __init__(self, table: str, dynamodb: DynamoDBClient) -> None:
        self._table = table
        self._dynamodb = dynamodb

    def of_caller(self, subject: str) -> list[RegisteredModel]:
        """Every model the caller trained, newest first."""
        keys: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": CATALOG_BY_SUBJECT_INDEX,
            "KeyConditionExpression": "subject = :subject",
            "FilterExpression": "begins_with(pk, :models)",
            "ExpressionAttributeValues": {
                ":subject": {"S": subject},
                ":models": {"S": model_pk(subject, "")},
            },
            "ScanIndexForward": False,
        }
        while True:
            page = self._dynamodb.query(**arguments)
            keys.extend({"pk": item["pk"], "sk": item["sk"]} for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        models = []
        for key in keys:
            item = self._dynamodb.get_item(TableName=self._table, Key=key).get("Item")
            if item:  # keys-only index: a row deleted since is skipped
                models.append(_registered(item))
        return models

    def deployed(self, subject: str, name: str) -> RegisteredModel | None:
        """The caller's newest model of that name that is deployed for inference, if any."""
        page = self._dynamodb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :model",
            ExpressionAttributeValues={":model": {"S": model_pk(subject, name)}},
        )
        versions = sorted(
            (_registered(item) for item in page["Items"]), key=lambda model: model.registered_at
        )
        invocable = [model for model in versions if model.invocable]
        return invocable[-1] if invocable else None
