"""How the local cloud creates each resource type: one row per type, as CloudFormation would.

Most types are one API call whose arguments come from the resource's properties: those are rows of
`Call` (the operation, where each argument comes from, what the resource's Ref and attributes
are), and a new such type is one row. A type that needs several calls or a decision is a function
below the table. A property no row or function uses is reported as "not applied locally".

Two kinds of resource are only recorded, for the local cloud's own machinery to serve: Lambda
event source mappings (moto would try to invoke the function itself, in Docker, on every SQS
send) and API Gateway stages (served by the local API).
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agenthub.local import deploy_rules
from agenthub.local.stack import (
    Deployed,
    DeploymentError,
    EventSourceSpec,
    FunctionSpec,
    RestApiSpec,
    StageSpec,
)

if TYPE_CHECKING:
    from agenthub.local.deploy import Deployer

Creator = Callable[["Deployer", str, dict[str, Any]], Deployed]


def as_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def as_flag(value: Any) -> str:
    return str(value).lower()


# -- the declarative rows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """Where one API argument's value comes from."""

    make: Callable[[Deployer, str, dict[str, Any]], Any]
    uses: tuple[str, ...] = ()  # the properties it reads
    optional: bool = False  # left out when its properties are absent


def prop(name: str, convert: Callable[[Any], Any] = lambda value: value, optional: bool = True) -> Arg:
    return Arg(lambda _d, _l, props: convert(props[name]), (name,), optional)


def physical_name(property_name: str | None, limit: int, lowercase: bool = False) -> Arg:
    """The template's own name for the resource, else one made from the stack and logical id."""

    def make(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Any:
        if property_name and property_name in props:
            return props[property_name]
        return deployer.physical_name(logical_id, limit, lowercase)

    return Arg(make, (property_name,) if property_name else ())


def bag(convert: Mapping[str, Callable[[Any], str]]) -> Arg:
    """An `Attributes` map of the properties present (SNS, SQS), each value made a string."""
    return Arg(
        lambda _d, _l, props: {name: fn(props[name]) for name, fn in convert.items() if name in props},
        tuple(convert),
    )


def const(value: Any) -> Arg:
    return Arg(lambda _d, _l, _p: value)


@dataclass(frozen=True)
class Then:
    """A follow-up call made when `when` is among the properties (and truthy)."""

    when: str
    operation: str
    arguments: Callable[
        [Mapping[str, Any], dict[str, Any], dict[str, Any]], dict[str, Any]
    ]  # made, response, props


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    arguments: Mapping[str, Arg]
    # The Ref and the attributes, from the call's arguments and its response.
    ref: Callable[[Mapping[str, Any], dict[str, Any]], Any]
    attributes: Callable[[Deployer, Mapping[str, Any], dict[str, Any]], dict[str, Any]] = (
        lambda _deployer, _arguments, _response: {}
    )
    then: tuple[Then, ...] = ()
    ignored: tuple[str, ...] = ()  # properties with no local meaning, not worth a note

    def __call__(self, deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
        made = {
            argument: source.make(deployer, logical_id, props)
            for argument, source in self.arguments.items()
            if not source.optional or all(name in props for name in source.uses)
        }
        api = deployer.client(self.service)
        response = getattr(api, self.operation)(**made)
        for follow_up in self.then:
            if props.get(follow_up.when):
                getattr(api, follow_up.operation)(**follow_up.arguments(made, response, props))
        used = {name for source in self.arguments.values() for name in source.uses}
        used |= {follow_up.when for follow_up in self.then} | set(self.ignored)
        deployer.note(logical_id, props, used)
        return Deployed(self.ref(made, response), self.attributes(deployer, made, response))


def _numbers(*names: str, convert: Callable[[Any], Any] = int) -> dict[str, Arg]:
    return {name: prop(name, convert) for name in names}


ROWS: dict[str, Creator] = {
    "AWS::KMS::Alias": Call(
        "kms",
        "create_alias",
        {"AliasName": prop("AliasName", optional=False), "TargetKeyId": prop("TargetKeyId", optional=False)},
        ref=lambda made, _: made["AliasName"],
    ),
    "AWS::KMS::Key": Call(
        "kms",
        "create_key",
        {"Description": prop("Description"), "Policy": prop("KeyPolicy", as_json)},
        ref=lambda _, response: response["KeyMetadata"]["KeyId"],
        attributes=lambda _d, _, r: {"Arn": r["KeyMetadata"]["Arn"], "KeyId": r["KeyMetadata"]["KeyId"]},
        then=(
            Then(
                "EnableKeyRotation",
                "enable_key_rotation",
                lambda _m, r, _p: {"KeyId": r["KeyMetadata"]["KeyId"]},
            ),
        ),
    ),
    "AWS::SNS::Topic": Call(
        "sns",
        "create_topic",
        {
            "Name": physical_name("TopicName", 256),
            "Attributes": bag(
                {
                    "DisplayName": str,
                    "KmsMasterKeyId": str,
                    "TracingConfig": str,
                    "FifoTopic": as_flag,
                    "ContentBasedDeduplication": as_flag,
                }
            ),
        },
        ref=lambda _, response: response["TopicArn"],
        attributes=lambda _d, made, r: {"TopicArn": r["TopicArn"], "TopicName": made["Name"]},
    ),
    "AWS::SNS::Subscription": Call(
        "sns",
        "subscribe",
        {
            "TopicArn": prop("TopicArn", optional=False),
            "Protocol": prop("Protocol", optional=False),
            "Endpoint": prop("Endpoint", optional=False),
            "Attributes": bag(
                {
                    "FilterPolicy": as_json,
                    "FilterPolicyScope": str,
                    "RedrivePolicy": as_json,
                    "DeliveryPolicy": as_json,
                    "RawMessageDelivery": as_flag,
                }
            ),
            "ReturnSubscriptionArn": const(True),
        },
        ref=lambda _, response: response["SubscriptionArn"],
    ),
    "AWS::S3::BucketPolicy": Call(
        "s3",
        "put_bucket_policy",
        {"Bucket": prop("Bucket", optional=False), "Policy": prop("PolicyDocument", as_json, optional=False)},
        ref=lambda made, _: made["Bucket"],
    ),
    "AWS::Logs::LogGroup": Call(
        "logs",
        "create_log_group",
        {"logGroupName": physical_name("LogGroupName", 512), "kmsKeyId": prop("KmsKeyId")},
        ref=lambda made, _: made["logGroupName"],
        attributes=lambda d, made, _: {"Arn": d.arn("logs", f"log-group:{made['logGroupName']}:*")},
        then=(
            Then(
                "RetentionInDays",
                "put_retention_policy",
                lambda made, _r, props: {
                    "logGroupName": made["logGroupName"],
                    "retentionInDays": int(props["RetentionInDays"]),
                },
            ),
        ),
    ),
    "AWS::IAM::ManagedPolicy": Call(
        "iam",
        "create_policy",
        {
            "PolicyName": physical_name("ManagedPolicyName", 128),
            "Path": prop("Path"),
            "PolicyDocument": prop("PolicyDocument", as_json, optional=False),
            "Description": prop("Description"),
        },
        ref=lambda _, response: response["Policy"]["Arn"],
        attributes=lambda _d, _, response: {"PolicyArn": response["Policy"]["Arn"]},
    ),
    "AWS::Cognito::UserPoolDomain": Call(
        "cognito-idp",
        "create_user_pool_domain",
        {"Domain": prop("Domain", optional=False), "UserPoolId": prop("UserPoolId", optional=False)},
        ref=lambda made, _: made["Domain"],
        attributes=lambda _d, made, _: {"CloudFrontDistribution": f"{made['Domain']}.cloudfront.net"},
    ),
    "AWS::Cognito::UserPoolResourceServer": Call(
        "cognito-idp",
        "create_resource_server",
        {
            "UserPoolId": prop("UserPoolId", optional=False),
            "Identifier": prop("Identifier", optional=False),
            "Name": prop("Name", optional=False),
            "Scopes": prop("Scopes"),
        },
        ref=lambda made, _: made["Identifier"],
    ),
    "AWS::Cognito::UserPoolClient": Call(
        "cognito-idp",
        "create_user_pool_client",
        {
            "UserPoolId": prop("UserPoolId", optional=False),
            "ClientName": Arg(
                lambda _d, logical_id, props: props.get("ClientName", logical_id), ("ClientName",)
            ),
            **{
                name: prop(name)
                for name in (
                    "GenerateSecret",
                    "AllowedOAuthFlowsUserPoolClient",
                    "AllowedOAuthFlows",
                    "AllowedOAuthScopes",
                    "CallbackURLs",
                    "LogoutURLs",
                    "SupportedIdentityProviders",
                    "ExplicitAuthFlows",
                    "PreventUserExistenceErrors",
                    "EnableTokenRevocation",
                    "TokenValidityUnits",
                    "ReadAttributes",
                    "WriteAttributes",
                )
            },
            **_numbers("AccessTokenValidity", "IdTokenValidity", "RefreshTokenValidity"),
        },
        ref=lambda _, response: response["UserPoolClient"]["ClientId"],
        attributes=lambda _d, _, r: {
            "ClientSecret": r["UserPoolClient"].get("ClientSecret", ""),
            "Name": r["UserPoolClient"]["ClientName"],
        },
    ),
    "AWS::CloudWatch::Alarm": Call(
        "cloudwatch",
        "put_metric_alarm",
        {
            "AlarmName": physical_name("AlarmName", 255),
            **{
                name: prop(name)
                for name in (
                    "AlarmDescription",
                    "Namespace",
                    "MetricName",
                    "Dimensions",
                    "Statistic",
                    "ComparisonOperator",
                    "TreatMissingData",
                    "AlarmActions",
                    "OKActions",
                    "InsufficientDataActions",
                    "ActionsEnabled",
                    "Unit",
                    "Metrics",
                )
            },
            **_numbers("Period", "EvaluationPeriods", "DatapointsToAlarm"),
            "Threshold": prop("Threshold", float),
        },
        ref=lambda made, _: made["AlarmName"],
        attributes=lambda d, made, _: {"Arn": d.arn("cloudwatch", f"alarm:{made['AlarmName']}")},
    ),
    # Kept by moto; the local scheduler invokes synchronously, so no destination is ever used here.
    "AWS::Lambda::EventInvokeConfig": Call(
        "lambda",
        "put_function_event_invoke_config",
        {
            "FunctionName": prop("FunctionName", optional=False),
            "Qualifier": prop("Qualifier"),
            **_numbers("MaximumRetryAttempts", "MaximumEventAgeInSeconds"),
            "DestinationConfig": prop("DestinationConfig"),
        },
        ref=lambda made, _: f"{made['FunctionName']}:{made.get('Qualifier', '$LATEST')}",
    ),
    # Drawn by nothing locally, but kept (moto checks the body is JSON), as CloudFormation would.
    "AWS::CloudWatch::Dashboard": Call(
        "cloudwatch",
        "put_dashboard",
        {
            "DashboardName": physical_name("DashboardName", 255),
            "DashboardBody": prop("DashboardBody", optional=False),
        },
        ref=lambda made, _: made["DashboardName"],
    ),
    "AWS::Lambda::Permission": Call(
        "lambda",
        "add_permission",
        {
            "FunctionName": prop("FunctionName", optional=False),
            "StatementId": Arg(lambda _d, logical_id, _p: logical_id),
            "Action": prop("Action", optional=False),
            "Principal": prop("Principal", optional=False),
            "SourceArn": prop("SourceArn"),
        },
        ref=lambda made, _: made["StatementId"],
    ),
    "AWS::ApiGateway::Deployment": Call(
        "apigateway",
        "create_deployment",
        {"restApiId": prop("RestApiId", optional=False), "description": prop("Description")},
        ref=lambda _, response: response["id"],
    ),
    "AWS::ApiGateway::Account": Call(
        "apigateway",
        "update_account",
        {
            "patchOperations": Arg(
                lambda _d, _l, props: [
                    {"op": "replace", "path": "/cloudwatchRoleArn", "value": props["CloudWatchRoleArn"]}
                ],
                ("CloudWatchRoleArn",),
            )
        },
        ref=lambda _m, _r: "account",
    ),
}


# -- the types that need more than one call ----------------------------------------------------------


def _policy_on_each(service: str, targets: str, apply: Callable[[Any, Any, str], None]) -> Creator:
    """A policy resource that attaches one document to several topics or queues."""

    def create(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
        for target in props[targets]:
            apply(deployer.client(service), target, as_json(props["PolicyDocument"]))
        return Deployed(logical_id)

    return create


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
    "FifoQueue",
    "ContentBasedDeduplication",
)


def _sqs_queue(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    attributes = {
        name: as_json(props[name]) if isinstance(props[name], dict) else str(props[name])
        for name in _QUEUE_ATTRIBUTES
        if name in props
    }
    for flag in ("SqsManagedSseEnabled", "FifoQueue", "ContentBasedDeduplication"):
        if flag in attributes:
            attributes[flag] = attributes[flag].lower()
    name = props.get("QueueName") or deployer.physical_name(logical_id, 80)
    sqs = deployer.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    deployer.note(logical_id, props, {"QueueName", *attributes})
    return Deployed(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def _s3_bucket(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    s3 = deployer.client("s3")
    name = props.get("BucketName") or deployer.physical_name(logical_id, 63, lowercase=True)
    kwargs: dict[str, Any] = {"Bucket": name}
    if deployer.stack.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": deployer.stack.region}
    s3.create_bucket(**kwargs)
    if "BucketEncryption" in props:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
            }
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    for property_name, operation, argument in (
        ("PublicAccessBlockConfiguration", "put_public_access_block", "PublicAccessBlockConfiguration"),
        ("VersioningConfiguration", "put_bucket_versioning", "VersioningConfiguration"),
        ("OwnershipControls", "put_bucket_ownership_controls", "OwnershipControls"),
    ):
        if property_name in props:
            getattr(s3, operation)(Bucket=name, **{argument: props[property_name]})
    if "LifecycleConfiguration" in props:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration=_lifecycle(props["LifecycleConfiguration"])
        )
    if "LoggingConfiguration" in props:
        logging = props["LoggingConfiguration"]
        s3.put_bucket_logging(
            Bucket=name,
            BucketLoggingStatus={
                "LoggingEnabled": {
                    "TargetBucket": logging["DestinationBucketName"],
                    "TargetPrefix": logging.get("LogFilePrefix", ""),
                }
            },
        )
    deployer.note(
        logical_id,
        props,
        {
            "BucketName",
            "BucketEncryption",
            "PublicAccessBlockConfiguration",
            "VersioningConfiguration",
            "OwnershipControls",
            "LifecycleConfiguration",
            "LoggingConfiguration",
        },
    )
    return Deployed(
        name,
        {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{deployer.stack.region}.amazonaws.com",
        },
    )


def _lifecycle(configuration: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle rule shape, in the S3 API's shape."""
    rules = []
    for rule in configuration["Rules"]:
        api_rule: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"]}
        api_rule["Filter"] = {"Prefix": rule.get("Prefix", "")}
        if "ExpirationInDays" in rule:
            api_rule["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "NoncurrentVersionExpiration" in rule:
            days = int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
            api_rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
        if "AbortIncompleteMultipartUpload" in rule:
            days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            api_rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
        rules.append(api_rule)
    return {"Rules": rules}


def _dynamodb_table(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    dynamodb = deployer.client("dynamodb")
    name = props.get("TableName") or deployer.physical_name(logical_id, 255)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
        **{
            optional: props[optional]
            for optional in (
                "GlobalSecondaryIndexes",
                "LocalSecondaryIndexes",
                "ProvisionedThroughput",
                "StreamSpecification",
            )
            if optional in props
        },
    }
    if "SSESpecification" in props:
        kwargs["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled"))}
    description = dynamodb.create_table(**kwargs)["TableDescription"]
    if props.get("TimeToLiveSpecification", {}).get("Enabled"):
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    deployer.note(
        logical_id,
        props,
        {"TimeToLiveSpecification", "PointInTimeRecoverySpecification", "SSESpecification", *kwargs},
    )
    return Deployed(
        name, {"Arn": description["TableArn"], "StreamArn": description.get("LatestStreamArn", "")}
    )


def _iam_role(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    iam = deployer.client("iam")
    name = props.get("RoleName") or deployer.physical_name(logical_id, 64)
    role = iam.create_role(
        RoleName=name,
        Path=props.get("Path", "/"),
        AssumeRolePolicyDocument=as_json(props["AssumeRolePolicyDocument"]),
    )["Role"]
    for policy in props.get("Policies", []):
        # IAM reads a document without a Version as 2008-10-17 (SAM's policy templates leave it out);
        # moto refuses one. IAM is not enforced locally, so the version only needs to satisfy moto.
        document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
        iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=as_json(document))
    for arn in props.get("ManagedPolicyArns", []):
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    deployer.note(
        logical_id, props, {"RoleName", "Path", "AssumeRolePolicyDocument", "Policies", "ManagedPolicyArns"}
    )
    return Deployed(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


_USER_POOL_PROPERTIES = (
    "Policies",
    "AutoVerifiedAttributes",
    "AliasAttributes",
    "UsernameAttributes",
    "MfaConfiguration",
    "AdminCreateUserConfig",
    "AccountRecoverySetting",
    "Schema",
    "UsernameConfiguration",
    "UserPoolTier",
    "DeletionProtection",
    "LambdaConfig",
)


def _cognito_user_pool(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    kwargs = {name: props[name] for name in _USER_POOL_PROPERTIES if name in props}
    name = props.get("UserPoolName") or deployer.physical_name(logical_id, 128)
    cognito = deployer.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName=name, **kwargs)["UserPool"]
    if "EnabledMfas" in props:
        cognito.set_user_pool_mfa_config(
            UserPoolId=pool["Id"],
            SoftwareTokenMfaConfiguration={"Enabled": "SOFTWARE_TOKEN_MFA" in props["EnabledMfas"]},
            MfaConfiguration=props.get("MfaConfiguration", "OFF"),
        )
    deployer.note(logical_id, props, {"UserPoolName", "EnabledMfas", *kwargs})
    provider = f"cognito-idp.{deployer.stack.region}.amazonaws.com/{pool['Id']}"
    return Deployed(
        pool["Id"],
        {
            "Arn": pool["Arn"],
            "UserPoolId": pool["Id"],
            "ProviderName": provider,
            "ProviderURL": f"https://{provider}",
        },
    )


def _stub_code() -> bytes:
    """A placeholder package for the emulator's function record; the real code runs from code_dir."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "README.txt", "Served by the agent hub local cloud from the project's functions/ folder.\n"
        )
    return buffer.getvalue()


_FUNCTION_PROPERTIES = {
    "FunctionName",
    "Description",
    "Runtime",
    "Role",
    "Handler",
    "Code",
    "Timeout",
    "MemorySize",
    "Environment",
    "Architectures",
    "TracingConfig",
    "LoggingConfig",
    "ReservedConcurrentExecutions",
    "Layers",
}


def _lambda_function(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("FunctionName") or deployer.physical_name(logical_id, 64)
    environment = {
        key: str(value) for key, value in props.get("Environment", {}).get("Variables", {}).items()
    }
    deploy_rules.check_function_environment(environment)
    function = deployer.client("lambda").create_function(
        FunctionName=name,
        Runtime=props["Runtime"],
        Role=props["Role"],
        Handler=props["Handler"],
        Code={"ZipFile": _stub_code()},
        Timeout=int(props.get("Timeout", 3)),
        MemorySize=int(props.get("MemorySize", 128)),
        Environment={"Variables": environment},
        Architectures=props.get("Architectures", ["x86_64"]),
        TracingConfig=props.get("TracingConfig", {"Mode": "PassThrough"}),
        Description=props.get("Description", ""),
    )
    code_dir = deployer.translation.code_dirs.get(logical_id)
    if code_dir is None:
        raise DeploymentError(f"{logical_id}: no local code folder (functions must come from a SAM CodeUri)")
    layer_dirs = []
    for layer in props.get("Layers", []):
        if layer not in deployer.layers:
            raise DeploymentError(f"{logical_id}: the layer {layer} is not one the local cloud deployed")
        layer_dirs.append(deployer.layers[layer])
    concurrency = props.get("ReservedConcurrentExecutions")
    deployer.stack.functions[logical_id] = FunctionSpec(
        logical_id=logical_id,
        name=name,
        arn=function["FunctionArn"],
        handler=props["Handler"],
        runtime=props["Runtime"],
        code_dir=code_dir,
        timeout=int(props.get("Timeout", 3)),
        memory=int(props.get("MemorySize", 128)),
        environment=environment,
        role_arn=props["Role"],
        reserved_concurrency=int(concurrency) if concurrency is not None else None,
        layer_dirs=tuple(layer_dirs),
    )
    deployer.note(logical_id, props, _FUNCTION_PROPERTIES)
    return Deployed(name, {"Arn": function["FunctionArn"]})


def _lambda_event_source(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    source = props["EventSourceArn"]
    if ":sqs:" not in source:
        raise DeploymentError(f"{logical_id}: the local cloud polls SQS event sources only, not {source}")
    function = deployer.stack.function_by_name(props["FunctionName"])
    if function is None:
        raise DeploymentError(f"{logical_id}: no function {props['FunctionName']} in the stack")
    deploy_rules.check_sqs_event_source(deployer.stack, props, function.timeout, function.role_arn)
    spec = EventSourceSpec(
        logical_id=logical_id,
        function_name=props["FunctionName"],
        queue_arn=source,
        batch_size=int(props.get("BatchSize", 10)),
        batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
        report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
        enabled=bool(props.get("Enabled", True)),
        maximum_concurrency=int(props["ScalingConfig"]["MaximumConcurrency"])
        if "ScalingConfig" in props
        else None,
        # An event source mapping is known by a UUID; this one is derived, so a restart keeps it.
        uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{deployer.stack.name}/{logical_id}")),
    )
    deployer.stack.event_sources.append(spec)
    return Deployed(spec.uuid)


def _events_rule(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    """An EventBridge rule, made in the emulator; a schedule's Lambda targets are invoked on time by
    the local cloud's scheduler (agenthub.local.scheduler), which moto does not do."""
    events = deployer.client("events")
    name = props.get("Name") or deployer.physical_name(logical_id, 64)
    arguments = {
        key: props[key]
        for key in ("ScheduleExpression", "EventPattern", "Description", "State")
        if key in props
    }
    if isinstance(arguments.get("EventPattern"), dict):
        arguments["EventPattern"] = as_json(arguments["EventPattern"])
    arn = events.put_rule(Name=name, **arguments)["RuleArn"]
    targets = [
        {key: target[key] for key in ("Id", "Arn", "Input") if key in target}
        for target in props.get("Targets", [])
    ]
    if targets:
        events.put_targets(Rule=name, Targets=targets)
    deployer.note(
        logical_id, props, {"Name", "ScheduleExpression", "EventPattern", "Description", "State", "Targets"}
    )
    return Deployed(name, {"Arn": arn})


def _layer_version(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    """Served from the layer's own folder: a function that uses it finds its content after its code."""
    # SAM renames a layer `<LogicalId><10-hex hash>` (a new version per content); its folder is known
    # by the name in the SAM template.
    folder = next(
        (path for name, path in deployer.translation.layer_dirs.items() if logical_id.startswith(name)), None
    )
    if folder is None:
        raise DeploymentError(f"{logical_id}: no local folder (layers must come from a SAM ContentUri)")
    name = props.get("LayerName") or deployer.physical_name(logical_id, 64)
    arn = deployer.arn("lambda", f"layer:{name}:1")
    deployer.layers[arn] = folder
    deployer.note(
        logical_id,
        props,
        {"LayerName", "Content", "Description", "CompatibleRuntimes", "CompatibleArchitectures"},
    )
    return Deployed(arn, {"LayerVersionArn": arn})


def _custom_resource(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    """Created as CloudFormation does: its function is invoked with a request and answers by PUT."""
    if deployer.custom_resources is None:
        raise DeploymentError(f"{logical_id}: a custom resource needs the local cloud to run its function")
    token = props["ServiceToken"]
    response = deployer.custom_resources(
        token,
        {
            "RequestType": "Create",
            "ServiceToken": token,
            "StackId": deployer.stack.stack_id,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": logical_id,
            "ResourceProperties": props,
        },
    )
    if response.get("Status") != "SUCCESS":
        raise DeploymentError(
            f"{logical_id}: the custom resource failed: {response.get('Reason', 'no reason given')}"
        )
    return Deployed(str(response["PhysicalResourceId"]), dict(response.get("Data") or {}))


def is_custom_resource(resource_type: str) -> bool:
    return resource_type == "AWS::CloudFormation::CustomResource" or resource_type.startswith("Custom::")


def creator_for(resource_type: str) -> Creator | None:
    return _custom_resource if is_custom_resource(resource_type) else CREATORS.get(resource_type)


def _rest_api(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    apigateway = deployer.client("apigateway")
    body = props.get("Body") or {}
    api_id = apigateway.create_rest_api(name=props.get("Name") or deployer.stack.name)["id"]
    if body:
        apigateway.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(body))
    root = next(
        item["id"] for item in apigateway.get_resources(restApiId=api_id)["items"] if item["path"] == "/"
    )
    deployer.stack.rest_apis[logical_id] = RestApiSpec(logical_id, api_id, body)
    return Deployed(api_id, {"RootResourceId": root})


def _api_stage(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    deployer.client("apigateway").create_stage(
        restApiId=props["RestApiId"],
        stageName=props["StageName"],
        deploymentId=props["DeploymentId"],
        tracingEnabled=bool(props.get("TracingEnabled", False)),
    )
    everything: dict[str, Any] = next(
        (setting for setting in props.get("MethodSettings", []) if setting.get("ResourcePath") == "/*"), {}
    )
    stage = StageSpec(
        name=props["StageName"],
        throttle_rate=float(everything["ThrottlingRateLimit"])
        if "ThrottlingRateLimit" in everything
        else None,
        throttle_burst=int(everything["ThrottlingBurstLimit"])
        if "ThrottlingBurstLimit" in everything
        else None,
        access_log_format=props.get("AccessLogSetting", {}).get("Format"),
    )
    for spec in deployer.stack.rest_apis.values():
        if spec.api_id == props["RestApiId"]:
            spec.stages[stage.name] = stage
    deployer.note(
        logical_id,
        props,
        {"RestApiId", "StageName", "DeploymentId", "TracingEnabled", "MethodSettings", "AccessLogSetting"},
    )
    return Deployed(props["StageName"])


def _wait_condition_handle(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    """Only ever waited on to order other resources; CloudFormation gives it a presigned URL."""
    return Deployed(
        f"https://cloudformation-waitcondition-{deployer.stack.region}.s3.amazonaws.com/{logical_id}"
    )


_STATE_MACHINE_PROPERTIES = {
    "DefinitionString",
    "Definition",
    "DefinitionSubstitutions",
    "StateMachineName",
    "RoleArn",
    "StateMachineType",
    "TracingConfiguration",
    "LoggingConfiguration",
}


def _state_machine(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    deploy_rules.check_state_machine_logging(deployer.stack, props)
    definition = props.get("DefinitionString")
    if definition is None and "Definition" in props:
        definition = json.dumps(props["Definition"])
    if definition is None:
        raise DeploymentError(f"{logical_id}: no definition (DefinitionS3Location cannot be read locally)")
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    name = props.get("StateMachineName") or deployer.physical_name(logical_id, 80)
    kwargs: dict[str, Any] = {
        "name": name,
        "definition": definition,
        "roleArn": props["RoleArn"],
        "type": props.get("StateMachineType", "STANDARD"),
    }
    if "TracingConfiguration" in props:
        kwargs["tracingConfiguration"] = {"enabled": bool(props["TracingConfiguration"].get("Enabled"))}
    if "LoggingConfiguration" in props:
        logging = props["LoggingConfiguration"]
        kwargs["loggingConfiguration"] = {
            "level": logging.get("Level", "OFF"),
            "includeExecutionData": bool(logging.get("IncludeExecutionData", False)),
            "destinations": [
                {
                    "cloudWatchLogsLogGroup": {
                        "logGroupArn": destination["CloudWatchLogsLogGroup"]["LogGroupArn"]
                    }
                }
                for destination in logging.get("Destinations", [])
            ],
        }
    arn = deployer.client("stepfunctions").create_state_machine(**kwargs)["stateMachineArn"]
    deployer.note(logical_id, props, _STATE_MACHINE_PROPERTIES)
    return Deployed(arn, {"Arn": arn, "Name": name, "StateMachineRevisionId": ""})


def _nested_stack(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    """A nested stack (a SAM application with a local Location), deployed as CloudFormation would:
    its own stack, its parameters from the parent, its outputs the parent's `Outputs.<Name>`."""
    child = deployer.deploy_nested(logical_id, props["TemplateURL"], props.get("Parameters", {}))
    deployer.note(logical_id, props, {"TemplateURL", "Parameters"})
    return Deployed(child.stack_id, {f"Outputs.{name}": value for name, value in child.outputs.items()})


CREATORS: dict[str, Creator] = {
    **ROWS,
    "AWS::SNS::TopicPolicy": _policy_on_each(
        "sns",
        "Topics",
        lambda sns, topic, document: sns.set_topic_attributes(
            TopicArn=topic, AttributeName="Policy", AttributeValue=document
        ),
    ),
    "AWS::SQS::QueuePolicy": _policy_on_each(
        "sqs",
        "Queues",
        lambda sqs, url, document: sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document}),
    ),
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::S3::Bucket": _s3_bucket,
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::IAM::Role": _iam_role,
    "AWS::Cognito::UserPool": _cognito_user_pool,
    "AWS::Lambda::Function": _lambda_function,
    "AWS::Lambda::EventSourceMapping": _lambda_event_source,
    "AWS::ApiGateway::RestApi": _rest_api,
    "AWS::ApiGateway::Stage": _api_stage,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::CloudFormation::WaitConditionHandle": _wait_condition_handle,
    "AWS::CloudFormation::Stack": _nested_stack,
    "AWS::Lambda::LayerVersion": _layer_version,
    "AWS::Events::Rule": _events_rule,
}


# -- Deleting a stack ----------------------------------------------------------------------------
# What CloudFormation removes when a stack is deleted, by type, given a client factory and the
# resource's Ref. Types not listed go with what they belong to (a queue's policy, a permission)
# or are the local cloud's own (subscriptions, event sources and functions: LocalCloud.delete_stack).


def _delete_role(client: Callable[[str], Any], name: str) -> None:
    iam = client("iam")
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=name)


def _delete_rule(events: Any, name: str) -> None:
    targets = [target["Id"] for target in events.list_targets_by_rule(Rule=name)["Targets"]]
    if targets:
        events.remove_targets(Rule=name, Ids=targets)
    events.delete_rule(Name=name)


DELETERS: dict[str, Callable[[Callable[[str], Any], str], None]] = {
    "AWS::Logs::LogGroup": lambda client, ref: client("logs").delete_log_group(logGroupName=ref),
    "AWS::IAM::Role": _delete_role,
    "AWS::SQS::Queue": lambda client, ref: client("sqs").delete_queue(QueueUrl=ref),
    "AWS::Lambda::Function": lambda client, ref: client("lambda").delete_function(FunctionName=ref),
    "AWS::Events::Rule": lambda client, ref: _delete_rule(client("events"), ref),
}
