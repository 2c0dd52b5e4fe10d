"""The local deployer refuses what AWS refuses at deploy time, naming the resource and the rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from moto import mock_aws

from agenthub.local import moto_adapter
from agenthub.local.deploy import Deployer, DeploymentError
from agenthub.template import translate
from tests.support.moto_stack import REGION, STACK_NAME, client, deployed_stack


def deploy_changed(change: Callable[[dict[str, Any]], None]) -> None:
    """Deploys template.yaml, translated and then changed by `change`, into a fresh moto."""
    translation = translate()
    template = copy.deepcopy(translation.template)
    change(template["Resources"])
    moto_adapter.install()
    with mock_aws():
        Deployer(replace(translation, template=template), client, STACK_NAME, REGION).deploy()


def test_a_queue_that_hides_messages_for_less_than_its_function_runs_is_refused() -> None:
    """The override the local cloud once used: a 3 s visibility timeout under a 30 s function."""
    with pytest.raises(DeploymentError) as refused, deployed_stack(SubscriberVisibilityTimeoutSeconds="3"):
        pass

    message = str(refused.value)
    assert message.startswith("CoreWriterEventSource (AWS::Lambda::EventSourceMapping): AWS would refuse it")
    assert "visibility timeout (3 s) is less than the function's timeout (30 s)" in message


def test_the_local_overrides_obey_the_rule() -> None:
    from agenthub.local.cloud import samconfig_overrides

    overrides = samconfig_overrides()
    assert int(overrides["SubscriberVisibilityTimeoutSeconds"]) >= int(overrides["SubscriberTimeoutSeconds"])
    mappings = [
        name
        for name, resource in translate().template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    with deployed_stack(**overrides) as stack:
        assert sorted(source.logical_id for source in stack.event_sources) == sorted(mappings)


def test_a_state_machine_whose_role_cannot_deliver_its_logs_is_refused() -> None:
    def drop_log_delivery(resources: dict[str, Any]) -> None:
        role = resources["InvokeModelPipelineRole"]["Properties"]
        role["ManagedPolicyArns"] = [arn for arn in role["ManagedPolicyArns"] if isinstance(arn, str)]

    with pytest.raises(DeploymentError) as refused:
        deploy_changed(drop_log_delivery)

    message = str(refused.value)
    assert message.startswith("InvokeModelPipeline (AWS::StepFunctions::StateMachine): AWS would refuse it")
    assert "not authorized to access the log destination" in message


def test_an_event_source_its_role_cannot_read_is_refused() -> None:
    def drop_queue_access(resources: dict[str, Any]) -> None:
        for policy in resources["InvokeTriggerFunctionRole"]["Properties"]["Policies"]:
            statements = policy["PolicyDocument"]["Statement"]
            policy["PolicyDocument"]["Statement"] = [
                s for s in statements if s.get("Sid") != "TakeRequestsFromItsQueue"
            ]

    with pytest.raises(DeploymentError) as refused:
        deploy_changed(drop_queue_access)

    message = str(refused.value)
    assert message.startswith("InvokeTriggerEventSource (AWS::Lambda::EventSourceMapping)")
    assert "may not sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes" in message


def test_a_batch_over_ten_without_a_batching_window_is_refused() -> None:
    def big_batches(resources: dict[str, Any]) -> None:
        resources["PreprocessTriggerEventSource"]["Properties"]["BatchSize"] = 100

    with pytest.raises(DeploymentError, match="batch size over 10 needs MaximumBatchingWindowInSeconds"):
        deploy_changed(big_batches)


def test_an_environment_over_four_kilobytes_is_refused() -> None:
    def bloated(resources: dict[str, Any]) -> None:
        variables = resources["PreprocessFunction"]["Properties"]["Environment"]["Variables"]
        variables["PADDING"] = "x" * 4096

    with pytest.raises(DeploymentError) as refused:
        deploy_changed(bloated)

    assert str(refused.value).startswith("PreprocessFunction (AWS::Lambda::Function): AWS would refuse it")
    assert "Lambda allows 4096 in all" in str(refused.value)
