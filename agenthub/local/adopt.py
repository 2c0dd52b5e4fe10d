"""Deploying the template over a restored state: what already exists is adopted, not made again.

After a restart the kept services (`agenthub.local.snapshot.KEPT`) already hold the stack's
tables, bucket, queues, user pool and state machines, and the deployer (which only creates, as
CloudFormation does on a first deployment) would fail on a table that exists, or make a second
user pool and new app clients, whose new ids would invalidate every token and saved client secret.

So the deployer is given clients that look first: a create call whose resource exists (found by
its physical name, which `Deployer.physical_name` makes deterministic, or by the name the template
gives it) updates it to what the template now says where the service can (queue attributes, a
state machine's definition and role, an app client's settings, a table's indexes) and answers as
the create call would have, with the existing resource's ids. Every other call passes through.
This is CloudFormation's update, approximated for the properties a template edit is likely to
change; a change that would need the resource replaced (a table's key schema) stops the start with
a message, as a replacement would lose the data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("agenthub.local.adopt")
ClientFactory = Callable[[str], Any]
Adopter = Callable[[Any, dict[str, Any]], "dict[str, Any] | None"]


class CannotAdopt(RuntimeError):
    """The saved resource cannot become what the template now declares without losing its data."""


# -- S3 ---------------------------------------------------------------------------------------------


def _bucket(s3: Any, request: dict[str, Any]) -> dict[str, Any] | None:
    names = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    return {"Location": f"/{request['Bucket']}"} if request["Bucket"] in names else None


# -- DynamoDB ---------------------------------------------------------------------------------------


def _table(dynamodb: Any, request: dict[str, Any]) -> dict[str, Any] | None:
    name = request["TableName"]
    try:
        table = dynamodb.describe_table(TableName=name)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        return None
    if _keys(table.get("KeySchema", [])) != _keys(request["KeySchema"]):
        raise CannotAdopt(
            f"table {name}: its key schema changed in the template, which replaces the table and loses "
            "its items; start with `agenthub local up --fresh` (or `agenthub local reset`) to make it anew"
        )
    have = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    want = {index["IndexName"]: index for index in request.get("GlobalSecondaryIndexes", [])}
    updates: list[dict[str, Any]] = [{"Delete": {"IndexName": name}} for name in sorted(have - set(want))]
    for index_name in sorted(set(want) - have):
        updates.append({"Create": want[index_name]})
    for update in updates:
        dynamodb.update_table(
            TableName=name,
            AttributeDefinitions=request["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[update],
        )
    return {"TableDescription": dynamodb.describe_table(TableName=name)["Table"]}


def _keys(schema: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(key["AttributeName"], key["KeyType"]) for key in schema]


def _time_to_live(dynamodb: Any, request: dict[str, Any]) -> dict[str, Any] | None:
    wanted = request["TimeToLiveSpecification"]
    current = dynamodb.describe_time_to_live(TableName=request["TableName"])["TimeToLiveDescription"]
    enabled = current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
    if enabled == bool(wanted.get("Enabled")) and current.get("AttributeName") == wanted.get("AttributeName"):
        return {"TimeToLiveSpecification": wanted}
    return None


# -- SQS --------------------------------------------------------------------------------------------


def _queue(sqs: Any, request: dict[str, Any]) -> dict[str, Any] | None:
    try:
        url = sqs.get_queue_url(QueueName=request["QueueName"])["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return None
    # A queue's type is fixed when it is made; everything else follows the template.
    attributes = {name: value for name, value in request.get("Attributes", {}).items() if name != "FifoQueue"}
    if attributes:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return {"QueueUrl": url}


# -- Cognito ----------------------------------------------------------------------------------------

# What UpdateUserPool takes; the others (sign-in aliases, schema) are fixed when a pool is made.
_POOL_UPDATABLE = (
    "Policies",
    "LambdaConfig",
    "AutoVerifiedAttributes",
    "MfaConfiguration",
    "AdminCreateUserConfig",
    "AccountRecoverySetting",
    "UserPoolTier",
    "DeletionProtection",
)


def _user_pool(cognito: Any, request: dict[str, Any]) -> dict[str, Any] | None:
    pools = [
        pool
        for page in cognito.get_paginator("list_user_pools").paginate(MaxResults=60)
        for pool in page["UserPools"]
        if pool["Name"] == request["PoolName"]
    ]
    if not pools:
        return None
    pool_id = sorted(pools, key=lambda pool: (pool.get("CreationDate") or 0, pool["Id"]))[0]["Id"]
    updates = {name: request[name] for name in _POOL_UPDATABLE if name in request}
    if updates:
        cognito.update_user_pool(UserPoolId=pool_id, **updates)
    return {"UserPool": cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]}


def _user_pool_client(cognito: Any, request: dict[str, Any]) -> dict[str, Any] | None:
    pool_id = request["UserPoolId"]
    found = next(
        (
            client["ClientId"]
            for page in cognito.get_paginator("list_user_pool_clients").paginate(
                UserPoolId=pool_id, MaxResults=60
            )
            for client in page["UserPoolClients"]
            if client["ClientName"] == request["ClientName"]
        ),
        None,
    )
    if found is None:
        return None
    # The same id and secret as before: tokens and saved client credentials name them.
    settings = {key: value for key, value in request.items() if key not in ("UserPoolId", "GenerateSecret")}
    cognito.update_user_pool_client(UserPoolId=pool_id, ClientId=found, **settings)
    client = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=found)["UserPoolClient"]
    return {"UserPoolClient": client}


def _resource_server(cognito: Any, request: dict[str, Any]) -> dict[str, Any] | None:
    try:
        server = cognito.describe_resource_server(
            UserPoolId=request["UserPoolId"], Identifier=request["Identifier"]
        )["ResourceServer"]
    except cognito.exceptions.ResourceNotFoundException:
        return None
    return {"ResourceServer": server}


def _user_pool_domain(cognito: Any, request: dict[str, Any]) -> dict[str, Any] | None:
    description = cognito.describe_user_pool_domain(Domain=request["Domain"]).get("DomainDescription") or {}
    if description.get("UserPoolId") != request["UserPoolId"]:
        return None
    return {"CloudFrontDomain": description.get("CloudFrontDistribution", "")}


# -- Step Functions ----------------------------------------------------------------------------------


def _state_machine(sfn: Any, request: dict[str, Any]) -> dict[str, Any] | None:
    found = next(
        (
            machine
            for page in sfn.get_paginator("list_state_machines").paginate()
            for machine in page["stateMachines"]
            if machine["name"] == request["name"]
        ),
        None,
    )
    if found is None:
        return None
    arn = found["stateMachineArn"]
    if found["type"] != request.get("type", "STANDARD"):
        # Step Functions cannot change a machine's type: it is replaced, its executions with it.
        log.warning("%s changed type: made anew, without its executions", request["name"])
        sfn.delete_state_machine(stateMachineArn=arn)
        return None
    update: dict[str, Any] = {
        "definition": request["definition"],
        "roleArn": request["roleArn"],
        **{key: request[key] for key in ("loggingConfiguration", "tracingConfiguration") if key in request},
    }
    sfn.update_state_machine(stateMachineArn=arn, **update)
    return {"stateMachineArn": arn, "creationDate": found.get("creationDate")}


ADOPTERS: dict[str, dict[str, Adopter]] = {
    "s3": {"create_bucket": _bucket},
    "dynamodb": {"create_table": _table, "update_time_to_live": _time_to_live},
    "sqs": {"create_queue": _queue},
    "cognito-idp": {
        "create_user_pool": _user_pool,
        "create_user_pool_client": _user_pool_client,
        "create_resource_server": _resource_server,
        "create_user_pool_domain": _user_pool_domain,
    },
    "stepfunctions": {"create_state_machine": _state_machine},
}


class AdoptingClient:
    """A boto3 client whose create calls adopt an existing resource (see the module's docstring)."""

    def __init__(self, client: Any, adopters: dict[str, Adopter]) -> None:
        self._client = client
        self._adopters = adopters

    def __getattr__(self, name: str) -> Any:
        adopter = self._adopters.get(name)
        if adopter is None:
            return getattr(self._client, name)

        def create_or_adopt(**request: Any) -> Any:
            adopted = adopter(self._client, request)
            return adopted if adopted is not None else getattr(self._client, name)(**request)

        return create_or_adopt


def adopting(clients: ClientFactory) -> ClientFactory:
    """The deployer's clients, adopting what a restored state already holds."""

    def client(service: str) -> Any:
        made = clients(service)
        adopters = ADOPTERS.get(service)
        return AdoptingClient(made, adopters) if adopters else made

    return client
