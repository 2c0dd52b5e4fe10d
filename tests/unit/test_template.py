"""Checks on template.yaml that linters do not make (or that a rule ignored in .cfnlintrc.yaml made)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from agenthub import PROJECT_ROOT
from agenthub.template import (
    LINTER_METADATA,
    Translation,
    load_sam_template,
    translate,
    with_linter_suppressions,
)
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


def test_every_log_group_is_encrypted_with_the_hub_key_which_lets_cloudwatch_logs_use_it() -> None:
    for name, group in resources_of("AWS::Logs::LogGroup").items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["HubKey", "Arn"]}, name
    for tool in sorted((PROJECT_ROOT / "tools").glob("*/template.yaml")):
        for name, group in resources_of("AWS::Logs::LogGroup", load_sam_template(tool)).items():
            imported = group["Properties"]["KmsKeyId"]["Fn::ImportValue"]
            assert imported == {"Fn::Sub": "${HubStackName}-HubKeyArn"}, f"{tool.parent.name}: {name}"
    (logs,) = [
        statement
        for statement in cfn().resources["HubKey"]["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
    ]
    assert set(logs["Condition"]["ArnLike"]) == {"kms:EncryptionContext:aws:logs:arn"}


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


SUBSCRIBER_TEMPLATE = "templates/hub-subscriber.yaml"
# The message attributes the hub envelope sets (shared.hub.HubEvent.attributes): all a filter can match.
HUB_ATTRIBUTES = {"event_type", "pipeline", "source", "schema_version", "first_stage", "tool"}


@cache
def subscriber_unit() -> dict[str, Any]:
    return load_sam_template(PROJECT_ROOT / SUBSCRIBER_TEMPLATE)


def filter_keys(policy: dict[str, Any]) -> set[str]:
    keys = set()
    for key, value in policy.items():
        keys |= set().union(*(filter_keys(branch) for branch in value)) if key == "$or" else {key}
    return keys


def test_every_hub_subscriber_is_the_subscriber_unit_with_a_filter_on_the_hubs_attributes() -> None:
    subscribers = resources_of("AWS::CloudFormation::Stack")
    assert len(subscribers) >= 6
    for name, subscriber in subscribers.items():
        properties = subscriber["Properties"]
        assert properties["TemplateURL"] == SUBSCRIBER_TEMPLATE, name
        parameters = properties["Parameters"]
        assert parameters["HubTopicArn"] == {"Ref": "AgentCoreTopic"}, name
        assert parameters["AlarmTopicArn"] == {"Ref": "OperationsTopic"}, name
        policy = json.loads(parameters["FilterPolicy"])
        assert policy, name
        assert filter_keys(policy) <= HUB_ATTRIBUTES, name
    # No queue or hub subscription of the hub stack's own: every consumer goes through the unit.
    # (The sweeper's failed sweeps are kept in a queue of their own: no hub message goes there.)
    assert set(resources_of("AWS::SQS::Queue")) == {"SweeperFailedSweeps"}
    hub = {"Ref": "AgentCoreTopic"}
    assert [
        n for n, s in resources_of("AWS::SNS::Subscription").items() if s["Properties"]["TopicArn"] == hub
    ] == []


def test_the_subscriber_unit_filters_redrives_encrypts_and_alarms() -> None:
    resources = subscriber_unit()["Resources"]
    subscription = resources["Subscription"]["Properties"]
    assert subscription["FilterPolicy"] == {"Ref": "FilterPolicy"}
    assert subscription["FilterPolicyScope"] == "MessageAttributes"
    assert subscription["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    }
    assert resources["Queue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["DeadLetterQueue", "Arn"]
    }
    for queue in ("Queue", "DeadLetterQueue"):
        assert resources[queue]["Properties"]["SqsManagedSseEnabled"] is True, queue
    alarm = resources["DeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}
    ]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopicArn"}]
    (delivers,) = resources["QueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert delivers["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "HubTopicArn"}}}


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


def test_the_data_lakes_access_is_logged_to_a_private_tls_only_bucket_that_forgets_it() -> None:
    logging = cfn().resources["DataLakeBucket"]["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": "DataLakeAccessLogBucket"}
    logs = cfn().resources["DataLakeAccessLogBucket"]["Properties"]
    assert all(logs["PublicAccessBlockConfiguration"].values())
    # S3 delivers access logs to no bucket whose default encryption is a KMS key.
    (encryption,) = logs["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert logs["VersioningConfiguration"] == {"Status": "Enabled"}
    (expiry,) = logs["LifecycleConfiguration"]["Rules"]
    assert expiry["ExpirationInDays"] == {"Ref": "LogRetentionInDays"}
    delivers, tls_only = cfn().resources["DataLakeAccessLogBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert delivers["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivers["Action"] == "s3:PutObject"
    assert tls_only["Effect"] == "Deny"
    assert tls_only["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


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


@pytest.mark.parametrize("setting", ["defaults", "local cloud"])
def test_the_sweeper_waits_longer_than_any_step_may_be_silent(setting: str) -> None:
    """A request is failed as overdue only after a silence no healthy step can cause: an Express
    run's 5 minutes, a tool's answer, a customization job's polls (each announces progress)."""
    from agenthub.local.cloud import samconfig_overrides

    parameters = {name: spec.get("Default") for name, spec in sam()["Parameters"].items()}
    if setting == "local cloud":
        parameters.update(samconfig_overrides())
    quietest_step = max(
        300 if setting == "defaults" else 0,  # the local cloud runs Express workflows in seconds
        int(parameters["ToolAnswerTimeoutSeconds"]),
        int(parameters["CustomizationPollSeconds"]),
    )

    assert int(parameters["RequestOverdueSeconds"]) > 2 * quietest_step


LINTED_SAM = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Sweeper:
    Type: AWS::Serverless::Function
    Metadata:
      checkov:
        skip: [{id: CKV_AWS_116, comment: the reason}]
      cfn-lint:
        config:
          ignore_checks: [ES4000]
      BuildMethod: makefile
    Properties:
      Runtime: python3.13
      Handler: app.handler
      CodeUri: src/
      Events:
        Sweep:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
  SweeperLogs:
    Type: AWS::Logs::LogGroup
  Other:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
      CodeUri: src/
"""


def test_the_linters_translation_carries_a_sam_resources_suppressions_to_what_sam_made_for_it(
    tmp_path: Path,
) -> None:
    """cfn-lint and checkov read the translation too: a suppression beside a SAM function reaches
    its role, its events' rules and permissions; nothing else's, and nothing `translate()` keeps."""
    (tmp_path / "src").mkdir()
    path = tmp_path / "template.yaml"
    path.write_text(LINTED_SAM)
    translation = translate(path)
    linted = with_linter_suppressions(load_sam_template(path), translation.template)["Resources"]

    suppressions = {
        key: load_sam_template(path)["Resources"]["Sweeper"]["Metadata"][key] for key in LINTER_METADATA
    }
    for made in ("SweeperRole", "SweeperSweep", "SweeperSweepPermission"):
        assert linted[made]["Metadata"] == suppressions, made  # the linters' alone, not BuildMethod
    assert "Metadata" not in linted["SweeperLogs"]  # declared in the template, not made by SAM
    assert "Metadata" not in linted["OtherRole"]
    assert "Metadata" not in translation.resources["SweeperSweep"]


def test_the_front_doors_failures_alarm_to_the_operations_topic() -> None:
    """A 500 (an AWS call refused for good, or a fault of the front door's code) calls a person at
    once; 503s only when they last (callers retry them). docs/reliability.md case 12."""
    from front_door.app import DEPENDENCY_MISCONFIGURED, DEPENDENCY_UNAVAILABLE, UNEXPECTED_ERRORS

    environment = sam()["Resources"]["FrontDoorFunction"]["Properties"]["Environment"]["Variables"]
    namespace = sam()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    alarms = {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in resources_of("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == namespace
    }

    for metric in (DEPENDENCY_MISCONFIGURED, UNEXPECTED_ERRORS, DEPENDENCY_UNAVAILABLE):
        alarm = alarms[metric]
        # Powertools Metrics' one dimension: the function's POWERTOOLS_SERVICE_NAME.
        assert alarm["Dimensions"] == [{"Name": "service", "Value": environment["POWERTOOLS_SERVICE_NAME"]}]
        assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}], metric
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0), metric
        assert alarm["TreatMissingData"] == "notBreaching", metric
    for at_once in (DEPENDENCY_MISCONFIGURED, UNEXPECTED_ERRORS):
        assert alarms[at_once]["EvaluationPeriods"] == 1, at_once
    assert alarms[DEPENDENCY_UNAVAILABLE]["EvaluationPeriods"] > 1
