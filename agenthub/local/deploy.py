"""Deploys a translated template into an AWS emulator, resource by resource, in dependency order.

moto's own CloudFormation cannot create Cognito user pools (and so fails on the first GetAtt to
one), so this walks the SAM-translated resources and calls each service's API, the way
CloudFormation would. Each supported type has one creator below; a template with any other type
is refused up front with the resources named, never half-deployed.

Two kinds of resource are only recorded, for the local cloud's own machinery to serve: Lambda
event source mappings (moto would try to invoke the function itself, in Docker, on every SQS
send) and API Gateway stages (served by the local API). Both are also visible in `Stack`.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from agenthub.local import deploy_rules
from agenthub.local.intrinsics import (
    ResolutionError,
    Scope,
    evaluate_conditions,
    references,
    resolve,
)
from agenthub.template import Translation

DEFAULT_ACCOUNT_ID = "123456789012"
ClientFactory = Callable[[str], Any]


class DeploymentError(RuntimeError):
    """The template cannot be deployed locally; the message names the resources concerned."""


@dataclass(frozen=True)
class Deployed:
    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    code_dir: Path
    timeout: int
    memory: int
    environment: dict[str, str]
    role_arn: str
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class EventSourceSpec:
    logical_id: str
    function_name: str
    queue_arn: str
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool
    enabled: bool
    maximum_concurrency: int | None
    uuid: str = ""


@dataclass(frozen=True)
class StageSpec:
    name: str
    throttle_rate: float | None = None
    throttle_burst: int | None = None
    access_log_format: str | None = None


@dataclass(frozen=True)
class RestApiSpec:
    logical_id: str
    api_id: str
    body: dict[str, Any]
    stages: dict[str, StageSpec] = field(default_factory=dict)


@dataclass
class Stack:
    name: str
    region: str
    account_id: str
    parameters: dict[str, Any]
    resources: dict[str, Deployed] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    # Each deployed resource's properties with every intrinsic resolved, as CloudFormation passed them.
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    event_sources: list[EventSourceSpec] = field(default_factory=list)
    rest_apis: dict[str, RestApiSpec] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def ref(self, logical_id: str) -> str:
        return self.resources[logical_id].ref

    def function(self, logical_id: str) -> FunctionSpec:
        return self.functions[logical_id]

    def function_by_name(self, name: str) -> FunctionSpec | None:
        return next((spec for spec in self.functions.values() if name in (spec.name, spec.arn)), None)

    def of_type(self, resource_type: str) -> dict[str, Deployed]:
        return {name: self.resources[name] for name, kind in self.types.items() if kind == resource_type}


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _stub_code() -> bytes:
    """A placeholder package for the emulator's function record; the real code runs from code_dir."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "README.txt", "Served by the agent hub local cloud from the project's functions/ folder.\n"
        )
    return buffer.getvalue()


class Deployer:
    def __init__(
        self,
        translation: Translation,
        clients: ClientFactory,
        stack_name: str,
        region: str,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        self.translation = translation
        self._clients = clients
        self._template = translation.template
        self.stack = Stack(stack_name, region, account_id, dict(translation.parameters))
        self._scope = Scope(
            parameters=self._typed_parameters(),
            pseudo={
                "AWS::Region": region,
                "AWS::AccountId": account_id,
                "AWS::StackName": stack_name,
                "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/"
                + str(hashlib.sha256(stack_name.encode()).hexdigest()[:8])
                + "-0000-4000-8000-000000000000",
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::NotificationARNs": [],
            },
            mappings=self._template.get("Mappings", {}),
            ref=self._ref,
            get_att=self._get_att,
        )

    # -- planning -------------------------------------------------------------------------------

    def _typed_parameters(self) -> dict[str, Any]:
        declared = self._template.get("Parameters", {})
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            value = self.stack.parameters.get(name, spec.get("Default"))
            if value is None:
                raise DeploymentError(f"parameter {name} has no value and no default")
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [part.strip() for part in value.split(",")]
            values[name] = value
        return values

    def unsupported(self) -> list[str]:
        return sorted(
            f"{name} ({resource['Type']})"
            for name, resource in self._template["Resources"].items()
            if resource["Type"] not in CREATORS
        )

    def plan(self) -> list[str]:
        resources = self._template["Resources"]
        graph: dict[str, set[str]] = {}
        for name, resource in resources.items():
            depends = resource.get("DependsOn", [])
            depends = [depends] if isinstance(depends, str) else list(depends)
            graph[name] = {ref for ref in references(resource.get("Properties", {})) if ref in resources}
            graph[name].update(depends)
        try:
            return list(TopologicalSorter(graph).static_order())
        except CycleError as error:
            raise DeploymentError(f"circular references between resources: {error.args[1]}") from error

    # -- deploying ------------------------------------------------------------------------------

    def deploy(self) -> Stack:
        missing = self.unsupported()
        if missing:
            raise DeploymentError(
                "the local cloud cannot create these resources: " + ", ".join(missing) + "."
                " Add a creator for the type in agenthub/local/deploy.py."
            )
        evaluate_conditions(self._template.get("Conditions", {}), self._scope)
        for name in self.plan():
            resource = self._template["Resources"][name]
            condition = resource.get("Condition")
            if condition and not self._scope.conditions[condition]:
                continue
            try:
                properties = resolve(resource.get("Properties", {}), self._scope)
                deployed = CREATORS[resource["Type"]](self, name, properties)
            except deploy_rules.DeployRuleBroken as error:
                raise DeploymentError(f"{name} ({resource['Type']}): AWS would refuse it: {error}") from error
            except (ResolutionError, KeyError, TypeError, ValueError) as error:
                raise DeploymentError(f"{name} ({resource['Type']}): {error}") from error
            except Exception as error:  # an emulator API error: name the resource that failed
                raise DeploymentError(f"{name} ({resource['Type']}): {error}") from error
            self.stack.resources[name] = deployed
            self.stack.types[name] = resource["Type"]
            self.stack.properties[name] = properties
        self._outputs()
        return self.stack

    def _outputs(self) -> None:
        for name, output in self._template.get("Outputs", {}).items():
            condition = output.get("Condition")
            if condition and not self._scope.conditions[condition]:
                continue
            value = resolve(output["Value"], self._scope)
            self.stack.outputs[name] = value
            if "Export" in output:
                self.stack.exports[resolve(output["Export"]["Name"], self._scope)] = value

    def _ref(self, name: str) -> Any:
        if name not in self.stack.resources:
            raise ResolutionError(f"Ref to {name!r}: no such parameter or deployed resource")
        return self.stack.resources[name].ref

    def _get_att(self, name: str, attribute: str) -> Any:
        deployed = self.stack.resources.get(name)
        if deployed is None:
            raise ResolutionError(f"GetAtt {name}.{attribute}: no such deployed resource")
        if attribute not in deployed.attributes:
            known = ", ".join(sorted(deployed.attributes)) or "none"
            raise ResolutionError(f"GetAtt {name}.{attribute}: unknown attribute (known: {known})")
        return deployed.attributes[attribute]

    # -- helpers for creators ---------------------------------------------------------------------

    def client(self, service: str) -> Any:
        return self._clients(service)

    def physical_name(self, logical_id: str, limit: int, lowercase: bool = False) -> str:
        suffix = hashlib.sha256(f"{self.stack.name}/{logical_id}".encode()).hexdigest()[:12].upper()
        name = f"{self.stack.name}-{logical_id}"[: limit - len(suffix) - 1] + f"-{suffix}"
        return name.lower() if lowercase else name

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.stack.region if region else ''}:{self.stack.account_id}:{resource}"

    def note(self, logical_id: str, properties: dict[str, Any], applied: set[str]) -> None:
        skipped = sorted(set(properties) - applied - {"Tags"})
        if skipped:
            self.stack.notes.append(f"{logical_id}: not applied locally: {', '.join(skipped)}")


# --- creators, one per resource type ----------------------------------------------------------------


def _kms_key(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    kwargs: dict[str, Any] = {"Description": props.get("Description", logical_id)}
    if "KeyPolicy" in props:
        kwargs["Policy"] = _json(props["KeyPolicy"])
    key = deployer.client("kms").create_key(**kwargs)["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        deployer.client("kms").enable_key_rotation(KeyId=key["KeyId"])
    deployer.note(logical_id, props, {"Description", "KeyPolicy", "EnableKeyRotation"})
    return Deployed(key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})


def _kms_alias(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    deployer.client("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return Deployed(props["AliasName"])


def _sns_topic(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    attributes = {
        name: _json(props[name])
        for name in (
            "DisplayName",
            "KmsMasterKeyId",
            "TracingConfig",
            "FifoTopic",
            "ContentBasedDeduplication",
        )
        if name in props
    }
    name = props.get("TopicName") or deployer.physical_name(logical_id, 256)
    arn = deployer.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
    deployer.note(logical_id, props, {"TopicName", *attributes})
    return Deployed(arn, {"TopicArn": arn, "TopicName": name})


def _sns_topic_policy(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    for topic in props["Topics"]:
        deployer.client("sns").set_topic_attributes(
            TopicArn=topic, AttributeName="Policy", AttributeValue=_json(props["PolicyDocument"])
        )
    return Deployed(logical_id)


def _sns_subscription(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    attributes: dict[str, str] = {
        name: _json(props[name])
        for name in ("FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy")
        if name in props
    }
    if "RawMessageDelivery" in props:
        attributes["RawMessageDelivery"] = str(props["RawMessageDelivery"]).lower()
    arn = deployer.client("sns").subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    deployer.note(logical_id, props, {"TopicArn", "Protocol", "Endpoint", "RawMessageDelivery", *attributes})
    return Deployed(arn)


def _sqs_queue(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    names = (
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
    attributes = {
        name: _json(props[name]) if isinstance(props[name], dict) else str(props[name])
        for name in names
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


def _sqs_queue_policy(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    for url in props["Queues"]:
        deployer.client("sqs").set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": _json(props["PolicyDocument"])}
        )
    return Deployed(logical_id)


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
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
    if "LifecycleConfiguration" in props:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration=_lifecycle(props["LifecycleConfiguration"])
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
        api_rule["Filter"] = {"Prefix": rule["Prefix"]} if "Prefix" in rule else {"Prefix": ""}
        if "ExpirationInDays" in rule:
            api_rule["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "NoncurrentVersionExpiration" in rule:
            api_rule["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
            }
        if "AbortIncompleteMultipartUpload" in rule:
            api_rule["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            }
        rules.append(api_rule)
    return {"Rules": rules}


def _s3_bucket_policy(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    deployer.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=_json(props["PolicyDocument"]))
    return Deployed(logical_id)


def _dynamodb_table(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    dynamodb = deployer.client("dynamodb")
    name = props.get("TableName") or deployer.physical_name(logical_id, 255)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for optional in (
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "ProvisionedThroughput",
        "StreamSpecification",
    ):
        if optional in props:
            kwargs[optional] = props[optional]
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
        {
            "TableName",
            "TimeToLiveSpecification",
            "PointInTimeRecoverySpecification",
            "SSESpecification",
            *kwargs,
        },
    )
    return Deployed(
        name, {"Arn": description["TableArn"], "StreamArn": description.get("LatestStreamArn", "")}
    )


def _logs_group(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    logs = deployer.client("logs")
    name = props.get("LogGroupName") or deployer.physical_name(logical_id, 512)
    logs.create_log_group(logGroupName=name)
    if "RetentionInDays" in props:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    deployer.note(logical_id, props, {"LogGroupName", "RetentionInDays"})
    return Deployed(name, {"Arn": deployer.arn("logs", f"log-group:{name}:*")})


def _cloudwatch_alarm(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("AlarmName") or deployer.physical_name(logical_id, 255)
    kwargs = {key: value for key, value in props.items() if key not in ("AlarmName",)}
    for number in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if number in kwargs:
            kwargs[number] = int(kwargs[number])
    if "Threshold" in kwargs:
        kwargs["Threshold"] = float(kwargs["Threshold"])
    deployer.client("cloudwatch").put_metric_alarm(AlarmName=name, **kwargs)
    return Deployed(name, {"Arn": deployer.arn("cloudwatch", f"alarm:{name}")})


def _iam_role(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    iam = deployer.client("iam")
    name = props.get("RoleName") or deployer.physical_name(logical_id, 64)
    role = iam.create_role(
        RoleName=name,
        Path=props.get("Path", "/"),
        AssumeRolePolicyDocument=_json(props["AssumeRolePolicyDocument"]),
    )["Role"]
    for policy in props.get("Policies", []):
        # IAM reads a document without a Version as 2008-10-17 (SAM's policy templates leave it out);
        # moto refuses one. IAM is not enforced locally, so the version only needs to satisfy moto.
        document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
        iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=_json(document))
    for arn in props.get("ManagedPolicyArns", []):
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    deployer.note(
        logical_id, props, {"RoleName", "Path", "AssumeRolePolicyDocument", "Policies", "ManagedPolicyArns"}
    )
    return Deployed(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


def _iam_managed_policy(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("ManagedPolicyName") or deployer.physical_name(logical_id, 128)
    policy = deployer.client("iam").create_policy(
        PolicyName=name,
        Path=props.get("Path", "/"),
        PolicyDocument=_json(props["PolicyDocument"]),
        Description=props.get("Description", ""),
    )["Policy"]
    deployer.note(logical_id, props, {"ManagedPolicyName", "Path", "PolicyDocument", "Description"})
    return Deployed(policy["Arn"], {"PolicyArn": policy["Arn"]})


def _cognito_user_pool(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    accepted = (
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
    kwargs = {name: props[name] for name in accepted if name in props}
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
    pool_id = pool["Id"]
    provider = f"cognito-idp.{deployer.stack.region}.amazonaws.com/{pool_id}"
    return Deployed(
        pool_id,
        {
            "Arn": pool["Arn"],
            "UserPoolId": pool_id,
            "ProviderName": provider,
            "ProviderURL": f"https://{provider}",
        },
    )


def _cognito_domain(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    deployer.client("cognito-idp").create_user_pool_domain(
        Domain=props["Domain"], UserPoolId=props["UserPoolId"]
    )
    return Deployed(props["Domain"], {"CloudFrontDistribution": f"{props['Domain']}.cloudfront.net"})


def _cognito_resource_server(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    deployer.client("cognito-idp").create_resource_server(
        UserPoolId=props["UserPoolId"],
        Identifier=props["Identifier"],
        Name=props["Name"],
        Scopes=props.get("Scopes", []),
    )
    return Deployed(props["Identifier"])


def _cognito_client(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    accepted = (
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
        "AccessTokenValidity",
        "IdTokenValidity",
        "RefreshTokenValidity",
        "TokenValidityUnits",
        "ReadAttributes",
        "WriteAttributes",
    )
    kwargs = {name: props[name] for name in accepted if name in props}
    for number in ("AccessTokenValidity", "IdTokenValidity", "RefreshTokenValidity"):
        if number in kwargs:
            kwargs[number] = int(kwargs[number])
    client = deployer.client("cognito-idp").create_user_pool_client(
        UserPoolId=props["UserPoolId"], ClientName=props.get("ClientName", logical_id), **kwargs
    )["UserPoolClient"]
    deployer.note(logical_id, props, {"UserPoolId", "ClientName", *kwargs})
    return Deployed(
        client["ClientId"], {"ClientSecret": client.get("ClientSecret", ""), "Name": client["ClientName"]}
    )


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
        reserved_concurrency=int(props["ReservedConcurrentExecutions"])
        if "ReservedConcurrentExecutions" in props
        else None,
    )
    deployer.note(
        logical_id,
        props,
        {
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
        },
    )
    return Deployed(name, {"Arn": function["FunctionArn"]})


def _lambda_permission(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    kwargs = {
        "FunctionName": props["FunctionName"],
        "StatementId": logical_id,
        "Action": props["Action"],
        "Principal": props["Principal"],
    }
    if "SourceArn" in props:
        kwargs["SourceArn"] = props["SourceArn"]
    deployer.client("lambda").add_permission(**kwargs)
    return Deployed(logical_id)


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
        uuid=str(uuid.UUID(hashlib.sha256(f"{deployer.stack.name}/{logical_id}".encode()).hexdigest()[:32])),
    )
    deployer.stack.event_sources.append(spec)
    return Deployed(spec.uuid)


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


def _api_deployment(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    deployment = deployer.client("apigateway").create_deployment(
        restApiId=props["RestApiId"], description=props.get("Description", "")
    )
    return Deployed(deployment["id"])


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


def _api_account(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    deployer.client("apigateway").update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": props["CloudWatchRoleArn"]}]
    )
    return Deployed(logical_id)


def _wait_condition_handle(deployer: Deployer, logical_id: str, props: dict[str, Any]) -> Deployed:
    """Only ever waited on to order other resources; CloudFormation gives it a presigned URL."""
    return Deployed(
        f"https://cloudformation-waitcondition-{deployer.stack.region}.s3.amazonaws.com/{logical_id}"
    )


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
    deployer.note(
        logical_id,
        props,
        {
            "DefinitionString",
            "Definition",
            "DefinitionSubstitutions",
            "StateMachineName",
            "RoleArn",
            "StateMachineType",
            "TracingConfiguration",
            "LoggingConfiguration",
        },
    )
    return Deployed(arn, {"Arn": arn, "Name": name, "StateMachineRevisionId": ""})


CREATORS: dict[str, Callable[[Deployer, str, dict[str, Any]], Deployed]] = {
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::SNS::Topic": _sns_topic,
    "AWS::SNS::TopicPolicy": _sns_topic_policy,
    "AWS::SNS::Subscription": _sns_subscription,
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::SQS::QueuePolicy": _sqs_queue_policy,
    "AWS::S3::Bucket": _s3_bucket,
    "AWS::S3::BucketPolicy": _s3_bucket_policy,
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::Logs::LogGroup": _logs_group,
    "AWS::CloudWatch::Alarm": _cloudwatch_alarm,
    "AWS::IAM::Role": _iam_role,
    "AWS::IAM::ManagedPolicy": _iam_managed_policy,
    "AWS::Cognito::UserPool": _cognito_user_pool,
    "AWS::Cognito::UserPoolDomain": _cognito_domain,
    "AWS::Cognito::UserPoolResourceServer": _cognito_resource_server,
    "AWS::Cognito::UserPoolClient": _cognito_client,
    "AWS::Lambda::Function": _lambda_function,
    "AWS::Lambda::Permission": _lambda_permission,
    "AWS::Lambda::EventSourceMapping": _lambda_event_source,
    "AWS::ApiGateway::RestApi": _rest_api,
    "AWS::ApiGateway::Deployment": _api_deployment,
    "AWS::ApiGateway::Stage": _api_stage,
    "AWS::ApiGateway::Account": _api_account,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::CloudFormation::WaitConditionHandle": _wait_condition_handle,
}
