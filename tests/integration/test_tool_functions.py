"""The tool stacks' Lambdas, run from their sample events (tools/*/events/) against the hub and tool
stacks deployed in moto: what hostile input gets back through the hub (docs/reliability.md #43-45).
The tools' logic is tested in tools/*/tests; whole agent runs in tests/e2e/test_agents.py."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agenthub import PROJECT_ROOT
from agenthub.iam.report import deployed_in_moto
from agenthub.local.deploy import Stack
from contracts.events import TOOL_COMPLETED, TOOL_FAILED
from contracts.tools import EXCERPT_CHARACTERS
from shared import aws
from shared.hub import HubEvent, HubPublisher
from tests.support.moto_stack import FunctionRunner, client, drain, hub_messages

SUBJECT = "2f6b7a3e-1c4d-4e5f-8a9b-0c1d2e3f4a5b"


def sample(tool: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (PROJECT_ROOT / "tools" / tool / "events" / "tool_requested.json").read_text()
    )
    return event


def hub_event(delivery: dict[str, Any]) -> HubEvent:
    return HubEvent.model_validate_json(json.loads(delivery["Records"][0]["body"])["Message"])


def with_input(
    tool: str, arguments: dict[str, Any], *, claim_check: HubPublisher | None = None
) -> dict[str, Any]:
    """The tool's sample delivery, asking with these arguments (through the lake when asked to be)."""
    delivery = copy.deepcopy(sample(tool))
    event = hub_event(delivery)
    assert event.payload is not None
    payload = {**event.payload, "input": arguments}
    event = event.model_copy(update={"payload": payload})
    if claim_check is not None:
        event = claim_check._claim_check(event)
    notification = json.loads(delivery["Records"][0]["body"])
    notification["Message"] = event.model_dump_json()
    delivery["Records"][0]["body"] = json.dumps(notification)
    return delivery


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[str, Stack]]:
    with deployed_in_moto() as deployed:
        yield {stack.name: stack for stack in deployed}


@pytest.fixture
def hub_tap(stacks: dict[str, Stack]) -> Iterator[str]:
    """A queue that receives everything published to the hub."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="tool-hub-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = client("sns").subscribe(
        TopicArn=stacks["agent-hub"].ref("AgentCoreTopic"), Protocol="sqs", Endpoint=arn
    )["SubscriptionArn"]
    yield url
    client("sns").unsubscribe(SubscriptionArn=subscription)
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def functions(stacks: dict[str, Stack]) -> Iterator[dict[str, FunctionRunner]]:
    runners = {name: FunctionRunner(stack) for name, stack in stacks.items()}
    yield runners
    for runner in runners.values():
        runner.close()


def answered(
    functions: dict[str, FunctionRunner], tool: str, delivery: dict[str, Any], hub_tap: str
) -> dict[str, Any]:
    stack, logical_id = {
        "calculator": ("agent-hub-calculator", "CalculatorFunction"),
        "search_documents": ("agent-hub-search-documents", "SearchDocumentsFunction"),
    }[tool]
    response = functions[stack].invoke(logical_id, delivery)
    assert response == {"batchItemFailures": []}  # answered, never retried
    (published,) = hub_messages(drain(hub_tap))
    return published


def test_the_calculators_sample_call_is_answered_exactly(
    functions: dict[str, FunctionRunner], hub_tap: str
) -> None:
    published = answered(functions, "calculator", sample("calculator"), hub_tap)

    assert published["event_type"] == TOOL_COMPLETED
    assert published["payload"]["text"] == "(12 + 3) * 60 / 7 = 900/7 (≈ 128.57142857142857142857)"


@pytest.mark.parametrize("expression", ["1e999999999", "9e99999999**9", "(10**399)**1000", "9**9**9"])
def test_an_expression_too_large_to_compute_is_refused_at_once_naming_the_limit(
    functions: dict[str, FunctionRunner], hub_tap: str, expression: str
) -> None:
    published = answered(
        functions, "calculator", with_input("calculator", {"expression": expression}), hub_tap
    )

    assert published["event_type"] == TOOL_FAILED
    text = published["payload"]["text"]
    assert "would have about" in text
    assert text.endswith("digits; the limit is 400")
    assert "failed (" not in text  # never the generic failure


def test_a_megabyte_expression_arriving_through_the_lake_is_refused_without_being_echoed(
    stacks: dict[str, Stack], functions: dict[str, FunctionRunner], hub_tap: str
) -> None:
    hub = stacks["agent-hub"]
    lake = HubPublisher(hub.ref("AgentCoreTopic"), hub.ref("DataLakeBucket"), client("sns"), client("s3"))
    expression = "1+" * 500_000 + "1"

    published = answered(
        functions,
        "calculator",
        with_input("calculator", {"expression": expression}, claim_check=lake),
        hub_tap,
    )

    assert published["event_type"] == TOOL_FAILED
    assert published["payload"]["text"] == (
        "the input is not valid: expression: String should have at most 500 characters"
    )


@pytest.fixture
def documents(stacks: dict[str, Stack]) -> str:
    """One preprocessed document of the sample call's caller, as preprocess leaves it in the lake."""
    bucket = stacks["agent-hub"].ref("DataLakeBucket")
    for number, text in enumerate(["The battery lasts 12 hours.", "Charging takes two hours."]):
        client("s3").put_object(
            Bucket=bucket, Key=f"work/preprocess/{SUBJECT}/doc-1/chunk-{number:04d}.txt", Body=text.encode()
        )
    return bucket


def test_a_search_is_answered_from_the_callers_chunks_and_a_second_reads_none_again(
    functions: dict[str, FunctionRunner],
    hub_tap: str,
    documents: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # this test's own index folder
    monkeypatch.setattr("tempfile.tempdir", None)
    reads: list[str] = []
    delivery = with_input("search_documents", {"query": "battery", "max_results": 3})

    functions["agent-hub-search-documents"].activate("SearchDocumentsFunction")  # its own clients
    aws.s3().meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: reads.append(params["Key"])
    )

    first = answered(functions, "search_documents", delivery, hub_tap)
    read_by_the_first = list(reads)
    second = answered(functions, "search_documents", delivery, hub_tap)

    assert first["event_type"] == TOOL_COMPLETED
    assert "[1] document doc-1, part 1: The battery lasts 12 hours." in first["payload"]["text"]
    assert second["payload"]["text"] == first["payload"]["text"]
    assert sorted(read_by_the_first) == [f"work/preprocess/{SUBJECT}/doc-1/chunk-000{n}.txt" for n in (0, 1)]
    assert reads == read_by_the_first  # the second search read no chunk: its caller's index was kept


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"query": "battery", "max_results": True}, "max_results: Input should be a valid integer"),
        ({"query": "battery", "max_results": "3"}, "max_results: Input should be a valid integer"),
        ({"query": "battery", "max_results": 11}, "max_results: Input should be less than or equal to 10"),
        ({"query": "x" * 100_000}, "query: String should have at most 500 characters"),
        ({"query": "battery", "filter": "x" * 100_000}, "filter: Extra inputs are not permitted"),
        ({"max_results": 3}, "query: Field required"),
    ],
)
def test_a_search_off_its_schema_is_refused_naming_the_field_and_echoing_nothing_long(
    functions: dict[str, FunctionRunner], hub_tap: str, arguments: dict[str, Any], problem: str
) -> None:
    published = answered(functions, "search_documents", with_input("search_documents", arguments), hub_tap)

    assert published["event_type"] == TOOL_FAILED
    text = published["payload"]["text"]
    assert text == f"the input is not valid: {problem}"
    assert "x" * (EXCERPT_CHARACTERS + 1) not in text


def test_each_tool_takes_one_call_per_invocation_at_most_its_bound_at_once(stacks: dict[str, Stack]) -> None:
    for name in ("agent-hub-calculator", "agent-hub-search-documents"):
        (source,) = stacks[name].event_sources

        assert source.batch_size == 1  # a call never shares its invocation's timeout
        assert source.maximum_concurrency == 20
        assert source.report_batch_item_failures
