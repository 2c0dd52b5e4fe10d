"""Checks on template.yaml that linters do not make (or that a rule ignored in .cfnlintrc.yaml made)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from agenthub import PROJECT_ROOT
from agenthub.template import Translation, load_sam_template, translate
from contracts.requests import PIPELINES


@cache
def sam() -> dict[str, Any]:
    return load_sam_template()


@cache
def cfn() -> Translation:
    return translate()


def resources_of(kind: str, template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    resources = (template or cfn().template)["Resources"]
    return {name: resource for name, resource in resources.items() if resource["Type"] == kind}


def test_functions_run_python_3_13_on_arm64_with_tracing() -> None:
    for name, function in resources_of("AWS::Lambda::Function").items():
        assert function["Properties"]["Runtime"] == "python3.13", name
        assert function["Properties"]["Architectures"] == ["arm64"], name
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}, name


def test_every_function_logs_to_a_group_with_retention() -> None:
    groups = resources_of("AWS::Logs::LogGroup", sam())
    for name, function in resources_of("AWS::Serverless::Function", sam()).items():
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert log_group["Ref"] in groups, f"{name} logs to {log_group}, not a log group of this template"
        assert "RetentionInDays" in groups[log_group["Ref"]]["Properties"], name


def test_every_handler_is_a_module_of_its_microservice_with_a_sample_event() -> None:
    for name, function in resources_of("AWS::Serverless::Function", sam()).items():
        module, _, handler = function["Properties"]["Handler"].rpartition(".")
        microservice = module.split(".")[0]
        assert handler == "lambda_handler", name
        assert (PROJECT_ROOT / "functions" / (module.replace(".", "/") + ".py")).is_file(), name
        samples = sorted((PROJECT_ROOT / "events" / microservice).glob("*.json"))
        assert samples, f"{name}: no sample event in events/{microservice}/"
        for sample in samples:
            json.loads(sample.read_text())


def test_every_hub_subscription_filters_and_has_a_dead_letter_queue() -> None:
    hub = {"Ref": "AgentCoreTopic"}
    subscriptions = resources_of("AWS::SNS::Subscription")
    assert sum(1 for s in subscriptions.values() if s["Properties"]["TopicArn"] == hub) >= 6
    for name, subscription in subscriptions.items():
        properties = subscription["Properties"]
        if properties["TopicArn"] != hub:
            continue
        assert properties.get("FilterPolicy"), name
        assert properties.get("FilterPolicyScope") == "MessageAttributes", name
        assert "deadLetterTargetArn" in properties.get("RedrivePolicy", {}), name


def test_every_queue_is_encrypted_and_every_working_queue_has_a_dead_letter_queue() -> None:
    queues = resources_of("AWS::SQS::Queue")
    targets = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in queues.values()
        if "RedrivePolicy" in queue["Properties"]
    }
    for name, queue in queues.items():
        assert queue["Properties"].get("SqsManagedSseEnabled") or queue["Properties"].get("KmsMasterKeyId"), (
            name
        )
        assert name in targets or "RedrivePolicy" in queue["Properties"], f"{name} has no dead-letter queue"


def test_every_dead_letter_queue_has_an_alarm_that_notifies_operations() -> None:
    queues = resources_of("AWS::SQS::Queue")
    dead_letter_queues = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in queues.values()
        if "RedrivePolicy" in queue["Properties"]
    }
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in resources_of("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("AlarmActions") == [{"Ref": "OperationsTopic"}]
    }
    assert dead_letter_queues
    assert dead_letter_queues <= alarmed


def test_the_hub_topic_is_encrypted_with_its_own_key() -> None:
    topic = cfn().resources["AgentCoreTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "HubKey"}


def test_the_data_lake_is_private_encrypted_versioned_and_tls_only() -> None:
    bucket = cfn().resources["DataLakeBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (statement,) = cfn().resources["DataLakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize(
    "output",
    [
        "AgentCoreTopic",
        "AgentMemoryTable",
        "ApiUrl",
        "UserPoolId",
        "UserPoolClientId",
        "DataLakeBucket",
        "CatalogTable",
    ],
)
def test_outputs_are_exported_under_the_stack_name(output: str) -> None:
    exported = sam()["Outputs"][output]["Export"]["Name"]
    assert exported == {"Fn::Sub": f"${{AWS::StackName}}-{output}"}


def test_the_api_model_admits_exactly_the_contract_pipelines() -> None:
    model = sam()["Resources"]["HubApi"]["Properties"]["Models"]["SubmitRequest"]
    assert model["properties"]["pipeline"]["enum"] == list(PIPELINES)


def test_every_route_requires_a_hub_scope() -> None:
    paths = cfn().resources["HubApi"]["Properties"]["Body"]["paths"]
    for path, methods in paths.items():
        for method, operation in methods.items():
            (requirement,) = operation["security"]
            (scopes,) = requirement.values()
            assert scopes, f"{method} {path}"
            assert all(scope.startswith("hub/requests.") for scope in scopes), f"{method} {path}"


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy's statements, taking both branches of a conditional one."""
    statements = policy["PolicyDocument"]["Statement"]
    found = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if "Fn::If" in statement:
            found += [branch for branch in statement["Fn::If"][1:] if branch != {"Ref": "AWS::NoValue"}]
        else:
            found.append(statement)
    return found


def test_no_role_grants_a_wildcard_action() -> None:
    for name, role in resources_of("AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in _statements(policy):
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert not [action for action in actions if action == "*" or action.endswith(":*")], name
