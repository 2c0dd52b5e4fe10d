"""IAM, checked where the emulator cannot: every role allows what its principal does, and no more.

The template is deployed into moto (every intrinsic resolved) and the code is read with mypy's
types (`agenthub.iam`); the check compares what each function and state machine needs with what
its role allows. These tests prove it on the real template and show it fails when a permission
is taken away, when one is added that nothing uses, and when code makes a call it does not know.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace

import pytest

from agenthub.iam.check import Report, check
from agenthub.iam.code import AwsCall, CodeMap, read_code
from agenthub.iam.roles import role_policies
from agenthub.local.deploy import Stack
from tests.support.moto_stack import deployed_stack


@pytest.fixture(scope="module")
def code() -> CodeMap:
    return read_code()


@pytest.fixture(scope="module")
def hub() -> Iterator[Stack]:
    with deployed_stack() as deployed:
        yield deployed


def changed(stack: Stack, role: str, change: object) -> Stack:
    """A copy of the deployed stack whose role's properties went through `change`."""
    properties = copy.deepcopy(stack.properties)
    change(properties[role])  # type: ignore[operator]
    return replace(stack, properties=properties)


def without_statement(sid: str, policy_name: str | None = None) -> object:
    """Removes the statement with this Sid (or, without one, at this index) from the role's policies."""

    def change(role: dict[str, object]) -> None:
        for policy in role["Policies"]:  # type: ignore[attr-defined]
            if policy_name not in (None, policy["PolicyName"]):
                continue
            statements = policy["PolicyDocument"]["Statement"]
            policy["PolicyDocument"]["Statement"] = [
                s for index, s in enumerate(statements) if s.get("Sid", str(index)) != sid
            ]

    return change


def missing(report: Report, principal: str) -> list[str]:
    return [f.detail for f in report.of_kind("missing") if f.principal == principal]


def test_every_role_allows_what_its_principal_needs_and_nothing_more(hub: Stack, code: CodeMap) -> None:
    report = check(hub, code)

    assert [str(finding) for finding in report.findings] == []
    checked = {principal.logical_id for principal in report.principals}
    assert set(hub.functions) <= checked
    assert {"PreprocessPipeline", "InvokeModelPipeline", "NovaCustomizationJob"} <= checked
    assert {"BedrockCustomizationRole", "SageMakerTrainingRole"} <= checked


def test_the_cancel_functions_may_claim_check_what_they_publish(hub: Stack, code: CodeMap) -> None:
    """The gap the first static read found: both cancel functions publish through the hub publisher."""
    for function, role in (
        ("ProcessingCancelFunction", "ProcessingCancelFunctionRole"),
        ("CustomizationCancelFunction", "CustomizationCancelFunctionRole"),
    ):
        report = check(changed(hub, role, without_statement("ClaimCheckLargeAnnouncements")), code)

        problems = missing(report, function)
        assert len(problems) == 1, problems
        assert problems[0].startswith("s3:PutObject on arn:aws:s3:::")
        assert "/hub/example" in problems[0]
        assert "shared.hub.HubPublisher._claim_check calls s3.put_object" in problems[0]


def test_a_state_machine_without_log_delivery_is_caught(hub: Stack, code: CodeMap) -> None:
    def drop_log_delivery(role: dict[str, list[object]]) -> None:
        role["ManagedPolicyArns"] = [arn for arn in role["ManagedPolicyArns"] if ":aws:policy/" in str(arn)]

    report = check(changed(hub, "PreprocessPipelineRole", drop_log_delivery), code)

    problems = missing(report, "PreprocessPipeline")
    assert any(p.startswith("logs:CreateLogDelivery on *") for p in problems), problems
    assert all("execution logs delivered to CloudWatch Logs" in p for p in problems)


def test_a_function_whose_role_cannot_read_its_queue_is_caught(hub: Stack, code: CodeMap) -> None:
    report = check(
        changed(hub, "CoreWriterFunctionRole", without_statement("TakeHubEventsFromItsQueue")), code
    )

    problems = missing(report, "CoreWriterFunction")
    assert sorted(p.split(" ")[0] for p in problems) == [
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
    ]


def test_idempotency_needs_what_powertools_calls_on_the_function_s_behalf(hub: Stack, code: CodeMap) -> None:
    def read_only(role: dict[str, list[dict[str, object]]]) -> None:
        for policy in role["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:  # type: ignore[index]
                if statement.get("Sid") == "DeduplicateStarts":
                    statement["Action"] = ["dynamodb:GetItem", "dynamodb:PutItem"]

    report = check(changed(hub, "PreprocessTriggerFunctionRole", read_only), code)

    problems = missing(report, "PreprocessTriggerFunction")
    assert {p.split(" ")[0] for p in problems} == {"dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert all("uses DynamoDBPersistenceLayer" in p for p in problems)


def test_a_grant_nothing_uses_is_caught(hub: Stack, code: CodeMap) -> None:
    def broaden(role: dict[str, list[dict[str, object]]]) -> None:
        for policy in role["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:  # type: ignore[index]
                if statement.get("Sid") == "ReadAndWriteCatalogRows":
                    statement["Action"] = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"]

    report = check(changed(hub, "CoreWriterFunctionRole", broaden), code)

    assert [f.detail for f in report.of_kind("unused")] == [
        "CoreWriterFunctionRole/CoreWriterFunctionRolePolicy0#ReadAndWriteCatalogRows allows dynamodb:Scan, "
        "which nothing needs"
    ]
    assert report.of_kind("missing") == []


def test_every_statement_the_template_writes_is_needed(hub: Stack, code: CodeMap) -> None:
    """Remove any one statement from any role and the check reports something missing."""
    principals = {p.role: p.logical_id for p in check(hub, code).principals}
    removed = 0
    for role, principal in sorted(principals.items()):
        for statement in role_policies(hub, role, own_only=True).statements:
            policy, _, sid = statement.source.partition("#")
            if "/" not in policy:
                continue  # a managed policy of the stack's own, shared by several roles: tested above
            report = check(changed(hub, role, without_statement(sid, policy.split("/", 1)[1])), code)
            assert missing(report, principal), f"removing {statement.source} went unnoticed"
            removed += 1
    assert removed >= 30


def test_a_call_the_access_model_does_not_know_is_reported(hub: Stack, code: CodeMap) -> None:
    extended = copy.deepcopy(code)
    new_call = AwsCall("core.store.Catalog.save", "dynamodb", "delete_item", "functions/core/store.py:1")
    extended.calls.setdefault("core.store.Catalog.save", set()).add(new_call)

    report = check(hub, extended)

    assert [f.detail for f in report.of_kind("unmodelled")] == [
        "functions/core/store.py:1: core.store.Catalog.save calls dynamodb.delete_item; "
        "add what it needs to agenthub/iam/access.py"
    ]


def test_an_access_model_entry_no_code_makes_is_reported(hub: Stack, code: CodeMap) -> None:
    trimmed = copy.deepcopy(code)
    trimmed.calls["processing.preprocess.ChunkStore.put"] = set()

    report = check(hub, trimmed)

    assert [f.detail for f in report.of_kind("stale")] == [
        "access model entry (processing.preprocess.ChunkStore.put, s3.put_object): no code makes this call"
    ]


def test_the_code_map_sees_calls_through_helpers_and_not_calls_a_handler_cannot_reach(code: CodeMap) -> None:
    front_door = {call.key for call in code.aws_calls_from("front_door.app.lambda_handler")}
    core_writer = {call.key for call in code.aws_calls_from("core.writer.lambda_handler")}

    # Through the request service, the ledger and the hub publisher (claim check included).
    assert {"dynamodb.put_item", "dynamodb.get_item", "sns.publish", "s3.put_object"} <= front_door
    # The front door never reads a claim check, nor starts a pipeline.
    assert "s3.get_object" not in front_door
    assert "stepfunctions.start_execution" not in front_door
    assert "sns.publish" not in core_writer
    assert code.untyped == []
