"""What the console reads, and the one thing it does (a redrive), through the AWS APIs.

Every call goes to the emulator with an ordinary boto3 client, the calls a user would make with
`aws --endpoint-url`: DynamoDB Scan/GetItem on the catalog, S3 on the data lake, Step Functions
List/DescribeExecution and GetExecutionHistory, SQS queue attributes and StartMessageMoveTask,
Cognito ListUsers for the callers' names. The deployed `Stack` only says which resources are
the stack's and what the template calls them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from agenthub.local import local_client
from agenthub.local.console.records import (
    MODEL_PREFIX,
    REQUEST_PREFIX,
    TOOLS_PARTITION,
    LakeUnreadable,
    plain,
)
from agenthub.local.deploy import Stack

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

# A lake object larger than this is shown cut short: the console is for looking, not downloading.
LAKE_READ_BYTES = 256 * 1024
# Request rows are listed without their bodies: the list needs only the key attributes.
SUMMARY_ATTRIBUTES = ["pk", "request_id", "subject", "pipeline", "status", "created_at", "updated_at"]
_DESERIALIZE = TypeDeserializer()
STAGE_FOLDERS_MAX = 8


class ConsoleError(RuntimeError):
    """Something the console was asked for is not there; the message says what."""


@dataclass(frozen=True)
class ConsoleSources:
    """What the console needs from the local cloud: where the emulator is and what was deployed."""

    endpoint_url: str
    region: str
    stack: Stack
    api_url: str


@dataclass
class StateMachineInfo:
    arn: str
    name: str
    logical_id: str
    type: str


@dataclass
class ExecutionSummary:
    arn: str
    name: str
    state_machine: StateMachineInfo
    status: str
    started_at: datetime | None
    stopped_at: datetime | None
    request_id: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.stopped_at is None:
            return None
        return (self.stopped_at - self.started_at).total_seconds()


@dataclass
class ExecutionDetail:
    summary: ExecutionSummary
    definition: dict[str, Any]
    events: list[dict[str, Any]]
    input: Any
    output: Any
    error: str | None
    cause: str | None


@dataclass
class QueueInfo:
    url: str
    arn: str
    name: str
    label: str  # the template's logical id, when the queue is the stack's
    visible: int
    in_flight: int
    delayed: int
    dead_letter_arn: str | None = None
    max_receive_count: int | None = None
    sources: list[str] = field(default_factory=list)  # for a DLQ: the queues that dead-letter into it
    consumers: list[str] = field(default_factory=list)  # functions an event source mapping feeds
    last_move: dict[str, Any] | None = None

    @property
    def is_dead_letter_queue(self) -> bool:
        return bool(self.sources)


@dataclass
class LakeObject:
    key: str
    size: int
    modified: datetime | None


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    return {key: plain(_DESERIALIZE.deserialize(value)) for key, value in raw.items()}


def _json_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def request_id_of(execution_input: Any) -> str | None:
    """The request an execution works for: the hub event it was started with names it."""
    if not isinstance(execution_input, dict):
        return None
    event = execution_input.get("event")
    for holder in (event, execution_input):
        if isinstance(holder, dict) and isinstance(holder.get("request_id"), str):
            return str(holder["request_id"])
    return None


class HubReader:
    def __init__(self, sources: ConsoleSources) -> None:
        self.sources = sources
        stack = sources.stack

        def client(service: str) -> Any:
            return local_client(service, sources.region, sources.endpoint_url)

        self._dynamodb: DynamoDBClient = client("dynamodb")
        self._s3: S3Client = client("s3")
        self._sfn: SFNClient = client("stepfunctions")
        self._sqs: SQSClient = client("sqs")
        self._lambda: LambdaClient = client("lambda")
        self._cognito: CognitoIdentityProviderClient = client("cognito-idp")
        self.catalog_table = str(stack.outputs.get("CatalogTable") or stack.ref("CatalogTable"))
        self.lake_bucket = str(stack.outputs.get("DataLakeBucket") or stack.ref("DataLakeBucket"))
        self.user_pool_id = stack.outputs.get("UserPoolId")
        # An execution's input never changes: which request it served is looked up once.
        self._execution_requests: dict[str, str | None] = {}
        self._lock = threading.Lock()

    # -- the catalog --------------------------------------------------------------------------

    def _scan(self, prefix: str, attributes: list[str] | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.catalog_table,
            "FilterExpression": "begins_with(pk, :prefix)",
            "ExpressionAttributeValues": {":prefix": {"S": prefix}},
        }
        if attributes:
            names = {f"#a{index}": name for index, name in enumerate(attributes)}
            kwargs["ProjectionExpression"] = ", ".join(names)
            kwargs["ExpressionAttributeNames"] = names
        for page in self._dynamodb.get_paginator("scan").paginate(**kwargs):
            for raw in page.get("Items", []):
                yield _item(raw)

    def request_items(self) -> list[dict[str, Any]]:
        return list(self._scan(REQUEST_PREFIX, SUMMARY_ATTRIBUTES))

    def request_item(self, request_id: str) -> dict[str, Any] | None:
        raw = self._dynamodb.get_item(
            TableName=self.catalog_table,
            Key={"pk": {"S": f"{REQUEST_PREFIX}{request_id}"}, "sk": {"S": "REQUEST"}},
        ).get("Item")
        return _item(raw) if raw else None

    def model_items(self) -> list[dict[str, Any]]:
        return list(self._scan(MODEL_PREFIX))

    def tool_items(self) -> list[dict[str, Any]]:
        """The tool registry's rows, withdrawn ones included (one partition: one query)."""
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self.catalog_table,
            KeyConditionExpression="pk = :tools",
            ExpressionAttributeValues={":tools": {"S": TOOLS_PARTITION}},
        )
        return [_item(raw) for page in pages for raw in page["Items"]]

    # -- the data lake ------------------------------------------------------------------------

    def lake_key(self, uri: str) -> str:
        """The key of an `s3://` address in the stack's lake; anything else is refused."""
        prefix = f"s3://{self.lake_bucket}/"
        if not uri.startswith(prefix):
            raise LakeUnreadable(f"{uri} is not in the data lake (s3://{self.lake_bucket})")
        return uri[len(prefix) :]

    def read_lake(self, key: str, limit: int = LAKE_READ_BYTES) -> tuple[bytes, int]:
        """The object's first `limit` bytes and its whole size."""
        try:
            answer = self._s3.get_object(Bucket=self.lake_bucket, Key=key, Range=f"bytes=0-{limit - 1}")
        except ClientError as error:
            raise LakeUnreadable(
                f"s3://{self.lake_bucket}/{key}: {error.response['Error']['Code']}"
            ) from error
        body = answer["Body"].read()
        total = answer.get("ContentLength", len(body))
        content_range = answer.get("ContentRange", "")
        if "/" in content_range:
            total = int(content_range.rsplit("/", 1)[1])
        return body, total

    def load_ref(self, uri: str) -> Any:
        """A JSON value the catalog keeps in the lake."""
        body, size = self.read_lake(self.lake_key(uri))
        if size > len(body):
            raise LakeUnreadable(f"{uri} holds {size} bytes; open it from the lake objects below")
        try:
            return json.loads(body)
        except ValueError as error:
            raise LakeUnreadable(f"{uri} is not JSON: {error}") from error

    def lake_objects(self, request_id: str, subject: str = "") -> list[LakeObject]:
        """Objects kept for a request: under `<folder>/<request id>/`, `<folder>/<name>/<request id>/`
        or a caller's own `<folder>/<name>/<caller>/<request id>/` (work/preprocess/<sub>/<id>/)."""
        found: dict[str, LakeObject] = {}
        prefixes = []
        for folder in self._common_prefixes(""):
            prefixes.append(f"{folder}{request_id}/")
            # One level deeper too, where a folder holds a few named parts (work/preprocess/<id>/);
            # a folder of many (one per request, one per caller) is not a folder of stages.
            inner = self._common_prefixes(folder, limit=STAGE_FOLDERS_MAX + 1)
            if len(inner) <= STAGE_FOLDERS_MAX:
                prefixes.extend(f"{name}{request_id}/" for name in inner)
                if subject:
                    prefixes.extend(f"{name}{subject}/{request_id}/" for name in inner)
        for prefix in prefixes:
            for page in self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.lake_bucket, Prefix=prefix
            ):
                for entry in page.get("Contents", []):
                    found[entry["Key"]] = LakeObject(entry["Key"], entry["Size"], entry.get("LastModified"))
        return sorted(found.values(), key=lambda item: item.key)

    def _common_prefixes(self, prefix: str, limit: int = 1000) -> list[str]:
        answer = self._s3.list_objects_v2(
            Bucket=self.lake_bucket, Prefix=prefix, Delimiter="/", MaxKeys=limit
        )
        return [entry["Prefix"] for entry in answer.get("CommonPrefixes", []) if "Prefix" in entry]

    # -- Step Functions -------------------------------------------------------------------------

    def state_machines(self) -> list[StateMachineInfo]:
        names = {
            deployed.ref: logical_id
            for logical_id, deployed in self.sources.stack.all_of_type(
                "AWS::StepFunctions::StateMachine"
            ).items()
        }
        machines = []
        for page in self._sfn.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                arn = machine["stateMachineArn"]
                machines.append(
                    StateMachineInfo(arn, machine["name"], names.get(arn, machine["name"]), machine["type"])
                )
        return machines

    def executions(self, request_id: str | None = None) -> list[ExecutionSummary]:
        """Every execution of every state machine, newest first; or only those for one request."""
        found = []
        for machine in self.state_machines():
            for page in self._sfn.get_paginator("list_executions").paginate(stateMachineArn=machine.arn):
                for execution in page["executions"]:
                    summary = ExecutionSummary(
                        arn=execution["executionArn"],
                        name=execution["name"],
                        state_machine=machine,
                        status=execution["status"],
                        started_at=execution.get("startDate"),
                        stopped_at=execution.get("stopDate"),
                    )
                    summary.request_id = self._request_of(summary)
                    if request_id is None or summary.request_id == request_id:
                        found.append(summary)
        return sorted(
            found, key=lambda item: item.started_at.timestamp() if item.started_at else 0, reverse=True
        )

    def _request_of(self, execution: ExecutionSummary) -> str | None:
        with self._lock:
            if execution.arn in self._execution_requests:
                return self._execution_requests[execution.arn]
        described = self._sfn.describe_execution(executionArn=execution.arn)
        request_id = request_id_of(_json_or_text(described.get("input")))
        with self._lock:
            self._execution_requests[execution.arn] = request_id
        return request_id

    def execution(self, arn: str) -> ExecutionDetail:
        try:
            described = self._sfn.describe_execution(executionArn=arn)
            machine = self._sfn.describe_state_machine_for_execution(executionArn=arn)
        except (self._sfn.exceptions.ExecutionDoesNotExist, self._sfn.exceptions.InvalidArn) as error:
            raise ConsoleError(f"no execution {arn}") from error
        events: list[dict[str, Any]] = []
        for page in self._sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(dict(event) for event in page["events"])
        info = next(
            (item for item in self.state_machines() if item.arn == described["stateMachineArn"]),
            StateMachineInfo(described["stateMachineArn"], machine["name"], machine["name"], "?"),
        )
        summary = ExecutionSummary(
            arn=arn,
            name=described.get("name", arn.rsplit(":", 1)[-1]),
            state_machine=info,
            status=described["status"],
            started_at=described.get("startDate"),
            stopped_at=described.get("stopDate"),
        )
        execution_input = _json_or_text(described.get("input"))
        summary.request_id = request_id_of(execution_input)
        return ExecutionDetail(
            summary=summary,
            definition=json.loads(machine["definition"]),
            events=events,
            input=execution_input,
            output=_json_or_text(described.get("output")),
            error=described.get("error"),
            cause=described.get("cause"),
        )

    # -- SQS ------------------------------------------------------------------------------------

    def queues(self) -> list[QueueInfo]:
        labels = {
            str(deployed.ref): logical_id
            for logical_id, deployed in self.sources.stack.all_of_type("AWS::SQS::Queue").items()
        }
        consumers: dict[str, list[str]] = {}
        for mappings in self._lambda.get_paginator("list_event_source_mappings").paginate():
            for mapping in mappings["EventSourceMappings"]:
                function = str(mapping.get("FunctionArn", "")).rsplit(":", 1)[-1]
                spec = self.sources.stack.function_by_name(function)
                consumers.setdefault(mapping.get("EventSourceArn", ""), []).append(
                    spec.logical_id if spec else function
                )
        queues: dict[str, QueueInfo] = {}
        for page in self._sqs.get_paginator("list_queues").paginate():
            for url in page.get("QueueUrls", []):
                attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
                    "Attributes"
                ]
                arn = attributes["QueueArn"]
                info = QueueInfo(
                    url=url,
                    arn=arn,
                    name=arn.rsplit(":", 1)[-1],
                    label=labels.get(url, arn.rsplit(":", 1)[-1]),
                    visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
                    in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                    delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
                    consumers=consumers.get(arn, []),
                )
                if "RedrivePolicy" in attributes:
                    policy = json.loads(attributes["RedrivePolicy"])
                    info.dead_letter_arn = policy.get("deadLetterTargetArn")
                    count = policy.get("maxReceiveCount")
                    info.max_receive_count = int(count) if count is not None else None
                queues[arn] = info
        for info in queues.values():
            if info.dead_letter_arn in queues:
                queues[info.dead_letter_arn].sources.append(info.label)
        for info in queues.values():
            if info.is_dead_letter_queue:
                tasks = self._sqs.list_message_move_tasks(SourceArn=info.arn).get("Results", [])
                info.last_move = dict(tasks[-1]) if tasks else None
        # Each dead-letter queue right after the queue it serves.
        return sorted(
            queues.values(),
            key=lambda item: (item.sources[0], 1) if item.sources else (item.label, 0),
        )

    def redrive(self, dead_letter_arn: str) -> dict[str, Any]:
        """Moves a dead-letter queue's messages back to their source queue; the move task's result."""
        if not any(queue.arn == dead_letter_arn and queue.is_dead_letter_queue for queue in self.queues()):
            raise ConsoleError(f"{dead_letter_arn} is not a dead-letter queue of this stack")
        try:
            handle = self._sqs.start_message_move_task(SourceArn=dead_letter_arn)["TaskHandle"]
        except (ClientError, BotoCoreError) as error:
            raise ConsoleError(f"the redrive of {dead_letter_arn} was refused: {error}") from error
        tasks = self._sqs.list_message_move_tasks(SourceArn=dead_letter_arn).get("Results", [])
        return next(
            (dict(task) for task in tasks if task.get("TaskHandle") == handle), {"TaskHandle": handle}
        )

    # -- Cognito --------------------------------------------------------------------------------

    def caller_names(self) -> dict[str, str]:
        """Caller ids (`sub`) and who they are: a user's name, or a machine client's name."""
        if not self.user_pool_id:
            return {}
        names: dict[str, str] = {}
        pool = str(self.user_pool_id)
        for page in self._cognito.get_paginator("list_users").paginate(UserPoolId=pool):
            for user in page.get("Users", []):
                sub = next((a["Value"] for a in user.get("Attributes", []) if a["Name"] == "sub"), None)
                if sub and "Username" in user:
                    names[sub] = user["Username"]
        # A client-credentials token's sub is its app client's id.
        for clients in self._cognito.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool):
            for client in clients.get("UserPoolClients", []):
                if "ClientId" in client:
                    names.setdefault(
                        client["ClientId"], f"client {client.get('ClientName', client['ClientId'])}"
                    )
        return names
