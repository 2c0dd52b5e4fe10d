"""The IAM check on the tool stacks (tools/*/template.yaml), deployed beside the hub stack they
import from: a tool's role must allow what its code does with the hub's topic, key and lake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agenthub.iam.check import check
from agenthub.iam.code import CodeMap, read_code
from agenthub.iam.report import deployed_in_moto
from agenthub.local.deploy import Stack
from tests.integration.test_iam import changed, missing, without_statement


@pytest.fixture(scope="module")
def code() -> CodeMap:
    return read_code()


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[str, Stack]]:
    with deployed_in_moto() as deployed:
        yield {stack.name: stack for stack in deployed}


def test_every_tool_role_allows_what_its_tool_needs_and_nothing_more(
    stacks: dict[str, Stack], code: CodeMap
) -> None:
    tools = [stack for name, stack in stacks.items() if name != "agent-hub"]
    assert sorted(tool.name for tool in tools) == ["agent-hub-calculator", "agent-hub-search-documents"]
    for tool in tools:
        report = check(tool, code, beside=[stacks["agent-hub"]])
        assert report.ok, "\n".join(str(finding) for finding in report.findings)


def test_a_tool_that_cannot_use_the_hubs_key_is_caught(stacks: dict[str, Stack], code: CodeMap) -> None:
    calculator = changed(
        stacks["agent-hub-calculator"], "CalculatorFunctionRole", without_statement("EncryptHubMessages")
    )

    problems = missing(check(calculator, code, beside=[stacks["agent-hub"]]), "CalculatorFunction")

    assert sorted(p.split(" ")[0] for p in problems) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert all("publishing to the encrypted topic" in p for p in problems)


def test_a_search_tool_allowed_to_list_another_prefix_only_is_caught(
    stacks: dict[str, Stack], code: CodeMap
) -> None:
    def list_elsewhere(role: dict[str, list[dict[str, object]]]) -> None:
        for policy in role["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:  # type: ignore[index]
                if statement.get("Sid") == "ListPreprocessedDocuments":
                    statement["Condition"] = {"StringLike": {"s3:prefix": "results/*"}}

    search = changed(stacks["agent-hub-search-documents"], "SearchDocumentsFunctionRole", list_elsewhere)

    problems = missing(check(search, code, beside=[stacks["agent-hub"]]), "SearchDocumentsFunction")

    assert len(problems) == 2  # the listing of a caller's documents, and of one document's chunks
    assert all(problem.startswith("s3:ListBucket on arn:aws:s3:::") for problem in problems)
