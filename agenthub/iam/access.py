"""What each AWS call in functions/ needs from IAM, and on which resource.

The code map (`agenthub.iam.code`) finds every boto3 call and the function or method making it;
this table says what IAM must allow for it, with the resource named through the calling
function's own settings (its environment variables, as the template sets them). A call the table
does not know, or an entry no code makes any more, fails the IAM check: add or remove the entry
next to the code change. Actions are IAM's, which are not always the operation's name (a HEAD is
`s3:GetObject`; a presigned URL needs what the request it signs would need):
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field


class MissingSetting(LookupError):
    """A function reaches a call whose resource comes from a setting the function does not have."""


@dataclass(frozen=True)
class Env:
    """Where a principal runs: its region, account and environment variables."""

    region: str
    account: str
    variables: Mapping[str, str]
    partition: str = "aws"

    def var(self, name: str) -> str:
        if name not in self.variables:
            raise MissingSetting(name)
        return self.variables[name]


class NotNeeded(LookupError):
    """The need does not apply to this deployment (an optional setting left empty)."""


class Resource:
    def resolve(self, env: Env) -> str:
        raise NotImplementedError

    def resolve_all(self, env: Env) -> list[str]:
        """Every resource the need names (one, unless a setting lists several)."""
        return [self.resolve(env)]


@dataclass(frozen=True)
class Table(Resource):
    variable: str

    def resolve(self, env: Env) -> str:
        return f"arn:{env.partition}:dynamodb:{env.region}:{env.account}:table/{env.var(self.variable)}"


@dataclass(frozen=True)
class TableIndex(Resource):
    variable: str
    index: str

    def resolve(self, env: Env) -> str:
        return f"{Table(self.variable).resolve(env)}/index/{self.index}"


@dataclass(frozen=True)
class WhenSet(Resource):
    """`resource`, needed only when the optional setting `variable` is not empty."""

    variable: str
    resource: Resource

    def resolve(self, env: Env) -> str:
        if not env.var(self.variable):
            raise NotNeeded(self.variable)
        return self.resource.resolve(env)


@dataclass(frozen=True)
class LakeObject(Resource):
    """An object under `prefix` in the bucket named by `variable`; checked with a sample key."""

    prefix: str
    variable: str = "DATA_LAKE_BUCKET"

    def resolve(self, env: Env) -> str:
        return f"arn:{env.partition}:s3:::{env.var(self.variable)}/{self.prefix}example"


@dataclass(frozen=True)
class Bucket(Resource):
    variable: str = "DATA_LAKE_BUCKET"

    def resolve(self, env: Env) -> str:
        return f"arn:{env.partition}:s3:::{env.var(self.variable)}"


@dataclass(frozen=True)
class ArnIn(Resource):
    """The ARN a setting holds (a topic, a state machine, a role)."""

    variable: str

    def resolve(self, env: Env) -> str:
        return env.var(self.variable)


@dataclass(frozen=True)
class ExecutionOf(Resource):
    """An execution of the state machine whose ARN a setting holds."""

    variable: str

    def resolve(self, env: Env) -> str:
        return env.var(self.variable).replace(":stateMachine:", ":execution:") + ":example"


@dataclass(frozen=True)
class IndexOf(Resource):
    """A global secondary index of the table a setting names."""

    variable: str
    index: str

    def resolve(self, env: Env) -> str:
        return f"{Table(self.variable).resolve(env)}/index/{self.index}"


@dataclass(frozen=True)
class QueuesIn(Resource):
    """The queues a setting lists by URL, as a JSON object's values (`{"label": "<queue url>"}`)."""

    variable: str

    def resolve(self, env: Env) -> str:
        return self.resolve_all(env)[0]

    def resolve_all(self, env: Env) -> list[str]:
        urls = json.loads(env.var(self.variable)).values()
        # https://sqs.<region>.amazonaws.com/<account>/<name> (or the emulator's host): the last two parts.
        parts = [url.rstrip("/").split("/") for url in urls]
        return [f"arn:{env.partition}:sqs:{env.region}:{part[-2]}:{part[-1]}" for part in parts]


@dataclass(frozen=True)
class Arn(Resource):
    """A fixed ARN shape; `{partition}`, `{region}` and `{account}` are filled in."""

    template: str

    def resolve(self, env: Env) -> str:
        return self.template.format(partition=env.partition, region=env.region, account=env.account)


@dataclass(frozen=True)
class ImageRepository(Resource):
    """The ECR repository of the image a setting names (<account>.dkr.ecr.<region>.amazonaws.com/
    <repository>:<tag>); nothing is needed when the setting is empty."""

    variable: str

    def resolve(self, env: Env) -> str:
        image = env.var(self.variable)
        if not image:
            raise NotNeeded(self.variable)
        registry, _, path = image.partition("/")
        account, _, _, region = registry.split(".")[:4]
        return f"arn:{env.partition}:ecr:{region}:{account}:repository/{path.split(':', 1)[0]}"


@dataclass(frozen=True)
class Need:
    action: str
    resource: Resource
    context: Mapping[str, str] = field(default_factory=dict)


def _reads_and_writes(table: str) -> tuple[Need, ...]:
    return tuple(
        Need(f"dynamodb:{action}", Table(table))
        for action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
    )


CATALOG, MEMORY, DEDUPE, STARTS = "CATALOG_TABLE", "AGENT_MEMORY_TABLE", "IDEMPOTENCY_TABLE", "STARTS_TABLE"
RUNS = "AGENT_RUNS_TABLE"

# (function or method making the call, "service.operation") -> what IAM must allow.
CALLS: dict[tuple[str, str], tuple[Need, ...]] = {
    # The hub envelope: publishing (with claim checks) and reading claim checks.
    ("shared.hub.HubPublisher.publish", "sns.publish"): (Need("sns:Publish", ArnIn("HUB_TOPIC_ARN")),),
    ("shared.hub.HubPublisher._claim_check", "s3.put_object"): (Need("s3:PutObject", LakeObject("hub/")),),
    ("shared.hub.load_payload", "s3.get_object"): (Need("s3:GetObject", LakeObject("hub/")),),
    # The catalog, read by the front door and the core writer; written by the core writer alone.
    ("contracts.catalog.CatalogReader.get", "dynamodb.get_item"): (Need("dynamodb:GetItem", Table(CATALOG)),),
    ("core.store.Catalog.save", "dynamodb.put_item"): (Need("dynamodb:PutItem", Table(CATALOG)),),
    ("core.store.Catalog.register_model", "dynamodb.put_item"): (Need("dynamodb:PutItem", Table(CATALOG)),),
    ("core.store.AgentMemory.append_turn", "dynamodb.put_item"): (Need("dynamodb:PutItem", Table(MEMORY)),),
    ("core.store.Catalog.save_tool", "dynamodb.put_item"): (Need("dynamodb:PutItem", Table(CATALOG)),),
    ("contracts.catalog.ToolRegistry.available", "dynamodb.query"): (Need("dynamodb:Query", Table(CATALOG)),),
    # A caller's customized models: found through the catalog's keys-only index, then read.
    ("contracts.catalog.CustomModels.of_caller", "dynamodb.query"): (
        Need("dynamodb:Query", TableIndex(CATALOG, "by-subject")),
    ),
    ("contracts.catalog.CustomModels.of_caller", "dynamodb.get_item"): (
        Need("dynamodb:GetItem", Table(CATALOG)),
    ),
    ("contracts.catalog.CustomModels.deployed", "dynamodb.query"): (Need("dynamodb:Query", Table(CATALOG)),),
    ("front_door.listings.RequestListing.page", "dynamodb.query"): (
        Need("dynamodb:Query", TableIndex(CATALOG, "by-subject")),
    ),
    ("front_door.listings.RequestListing._rows", "dynamodb.batch_get_item"): (
        Need("dynamodb:BatchGetItem", Table(CATALOG)),
    ),
    # The cursors of GET /v1/requests, kept in the front door's own table.
    ("front_door.listings.Cursors.issue", "dynamodb.put_item"): (Need("dynamodb:PutItem", Table(DEDUPE)),),
    ("front_door.listings.Cursors.start_of", "dynamodb.get_item"): (Need("dynamodb:GetItem", Table(DEDUPE)),),
    ("front_door.listings.DatasetListing.all", "s3.list_objects_v2"): (
        Need("s3:ListBucket", Bucket(), {"s3:prefix": "datasets/example/"}),
    ),
    ("shared.memory.MemoryReader.latest_turns", "dynamodb.query"): (Need("dynamodb:Query", Table(MEMORY)),),
    ("core.store.DataLake.store", "s3.put_object"): tuple(
        Need("s3:PutObject", LakeObject(prefix))
        for prefix in ("requests/", "results/", "errors/", "progress/")
    ),
    # The front door's own records and links.
    ("front_door.records.RequestIdReservations.reserve", "dynamodb.put_item"): (
        Need("dynamodb:PutItem", Table(DEDUPE)),
    ),
    ("front_door.records.AcceptanceRecords.record", "dynamodb.put_item"): (
        Need("dynamodb:PutItem", Table(DEDUPE)),
    ),
    ("front_door.records.AcceptanceRecords.get", "dynamodb.get_item"): (
        Need("dynamodb:GetItem", Table(DEDUPE)),
    ),
    ("front_door.requests.RequestService._presign", "s3.generate_presigned_url"): (
        Need("s3:GetObject", LakeObject("results/")),
        Need("s3:GetObject", LakeObject("errors/")),
        Need("s3:GetObject", LakeObject("progress/")),
        Need("s3:GetObject", LakeObject("work/preprocess/")),
        Need("s3:GetObject", LakeObject("customization/")),
    ),
    ("front_door.upload_urls.DatasetUploads.new_upload", "s3.generate_presigned_post"): (
        Need("s3:PutObject", LakeObject("datasets/")),
    ),
    ("front_door.upload_urls.DatasetUploads.exists", "s3.head_object"): (
        Need("s3:GetObject", LakeObject("datasets/")),
    ),
    # Triggers and cancellation marks.
    ("pipeline_kit.cancellation.CancellationMarks.mark", "dynamodb.put_item"): (
        Need("dynamodb:PutItem", Table(STARTS)),
    ),
    ("pipeline_kit.cancellation.CancellationMarks.is_marked", "dynamodb.get_item"): (
        Need("dynamodb:GetItem", Table(STARTS)),
    ),
    ("pipeline_kit.trigger.PipelineStarter._start", "stepfunctions.start_execution"): (
        Need("states:StartExecution", ArnIn("STATE_MACHINE_ARN")),
    ),
    # Processing tasks.
    ("processing.preprocess.ChunkStore.put", "s3.put_object"): (
        Need("s3:PutObject", LakeObject("work/preprocess/")),
    ),
    ("processing.preprocess.ChunkStore.put_all", "s3.put_object"): (
        Need("s3:PutObject", LakeObject("work/preprocess/")),
    ),
    ("processing.prepare_model_request.ModelRequestSources.chunk_texts", "s3.get_object"): (
        Need("s3:GetObject", LakeObject("work/preprocess/")),
    ),
    # Customization.
    ("customization.dataset_rules.validate_object", "s3.head_object"): (
        Need("s3:GetObject", LakeObject("datasets/")),
    ),
    ("customization.dataset_rules.validate_object", "s3.get_object"): (
        Need("s3:GetObject", LakeObject("datasets/")),
    ),
    ("customization.cancel.Canceller._execution_status", "stepfunctions.describe_execution"): (
        Need("states:DescribeExecution", ExecutionOf("STATE_MACHINE_ARN")),
    ),
    ("customization.cancel.Canceller._stop_bedrock_job", "bedrock.stop_model_customization_job"): (
        Need(
            "bedrock:StopModelCustomizationJob",
            Arn("arn:{partition}:bedrock:{region}:{account}:model-customization-job/example"),
        ),
    ),
    ("customization.cancel.Canceller._stop_training_job", "sagemaker.stop_training_job"): (
        Need(
            "sagemaker:StopTrainingJob",
            Arn("arn:{partition}:sagemaker:{region}:{account}:training-job/agenthub-example"),
        ),
    ),
    # HyperPod: the cluster's EKS orchestrator, and its Kubernetes API endpoint.
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeCluster.html
    ("customization.plan_job.HyperPodClusters.kubernetes_api", "sagemaker.describe_cluster"): (
        Need("sagemaker:DescribeCluster", WhenSet("HYPERPOD_CLUSTER_ARN", ArnIn("HYPERPOD_CLUSTER_ARN"))),
    ),
    ("customization.plan_job.HyperPodClusters.kubernetes_api", "eks.describe_cluster"): (
        Need(
            "eks:DescribeCluster",
            WhenSet("HYPERPOD_CLUSTER_ARN", Arn("arn:{partition}:eks:{region}:{account}:cluster/example")),
        ),
    ),
    # The agent: task tokens kept and found, runs resumed and stopped.
    ("agent.tool_calls.PendingCalls.wait_for", "dynamodb.put_item"): (Need("dynamodb:PutItem", Table(RUNS)),),
    ("agent.tool_calls.PendingCalls.waiting", "dynamodb.get_item"): (Need("dynamodb:GetItem", Table(RUNS)),),
    # A callback task's token has no resource type IAM could scope it by.
    ("agent.relay.relay", "stepfunctions.send_task_success"): (Need("states:SendTaskSuccess", Arn("*")),),
    ("agent.cancel.cancel", "stepfunctions.stop_execution"): (
        Need("states:StopExecution", ExecutionOf("STATE_MACHINE_ARN")),
    ),
    # The sweeper reads the dead-letter queues without taking their messages, and open requests.
    ("operations.sweeper.DeadLetters.peek", "sqs.receive_message"): (
        Need("sqs:ReceiveMessage", QueuesIn("DEAD_LETTER_QUEUES")),
    ),
    ("operations.sweeper.DeadLetters._release", "sqs.change_message_visibility_batch"): (
        Need("sqs:ChangeMessageVisibility", QueuesIn("DEAD_LETTER_QUEUES")),
    ),
    ("operations.sweeper.OpenRequests.quiet_since", "dynamodb.query"): (
        Need("dynamodb:Query", IndexOf(CATALOG, "open-requests")),
    ),
    # Tool stacks (tools/*/src). The search tool lists and reads the caller's preprocessed chunks.
    # Its documents by folder, then the chunks of one without an all-chunks object; HeadObject is
    # allowed by s3:GetObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
    ("search_documents_tool.handler.DocumentStore._document_names", "s3.list_objects_v2"): (
        Need("s3:ListBucket", Bucket(), {"s3:prefix": "work/preprocess/example/"}),
    ),
    ("search_documents_tool.handler.DocumentStore._chunks_of", "s3.list_objects_v2"): (
        Need("s3:ListBucket", Bucket(), {"s3:prefix": "work/preprocess/example/request/"}),
    ),
    ("search_documents_tool.handler.DocumentStore._look_at_one", "s3.head_object"): (
        Need("s3:GetObject", LakeObject("work/preprocess/")),
    ),
    ("search_documents_tool.handler.DocumentStore._get", "s3.get_object"): (
        Need("s3:GetObject", LakeObject("work/preprocess/")),
    ),
}

_POWERTOOLS_DYNAMODB = (
    "aws_lambda_powertools.utilities.idempotency.persistence.dynamodb.DynamoDBPersistenceLayer"
)
# (function or method referring to the library, library symbol) -> what the library calls on its behalf.
LIBRARIES: dict[tuple[str, str], tuple[Need, ...]] = {
    # Powertools Idempotency gets, puts, updates and deletes its records.
    ("front_door.requests.RequestService.from_environment", _POWERTOOLS_DYNAMODB): _reads_and_writes(DEDUPE),
    ("pipeline_kit.trigger.PipelineStarter.from_environment", _POWERTOOLS_DYNAMODB): _reads_and_writes(
        STARTS
    ),
}
# Library symbols that make AWS calls; a use of one that LIBRARIES does not list is a finding.
AWS_CALLING_LIBRARIES = frozenset({_POWERTOOLS_DYNAMODB})
