"""Every sample event in events/ through `agenthub local invoke`, on the session's local cloud.

Each file is resolved against the deployed stack, gets fresh ids (as `agenthub local invoke` gives
every run), gets what its `.needs.json` says it needs, and runs through its function's real
handler; what the invocation started (executions, hub messages, the requests it accepted) is
followed to its end. The tools' own samples (tools/*/events/) run through their stacks'
functions. A new event file without a row here fails `test_every_sample_event_has_an_expected_outcome`
(or its tools' twin), so no sample can rot unnoticed.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agenthub.local.invoke import InvokeOptions, LocalCloudClient, Outcome, invoke
from agenthub.local.sample_events import EVENTS_DIR, is_sample_event, load_event, load_needs, needs_path
from tests.e2e.conftest import Hub


def body(response: Any) -> Any:
    return json.loads(response["body"])


@dataclass(frozen=True)
class Expected:
    function: str
    response: Callable[[Any], bool]
    executions: int = 0  # how many it starts; every one must succeed
    messages: tuple[str, ...] = ()  # hub messages that must be seen, in any order
    request: str | None = None  # the catalog status an accepted request must end with


NO_FAILURES: Callable[[Any], bool] = lambda response: response == {"batchItemFailures": []}  # noqa: E731

EXPECTED: dict[str, Expected] = {
    "agent/cancel_requests.json": Expected("AgentCancelFunction", NO_FAILURES, messages=("agent.cancelled",)),
    "agent/prepare_run_task.json": Expected(
        "PrepareAgentRunFunction",
        lambda r: (
            [tool["ToolSpec"]["Name"] for tool in r["tool_config"]["Tools"]]
            == ["search_documents", "calculator"]
        ),
    ),
    # Its announcement names no request of the event's (see the test of its answer below).
    "agent/registrar_create.json": Expected("ToolRegistrarFunction", lambda r: r is None),
    # No run waits for the sample's answer (its token is spent): the relay resumes nothing.
    "agent/relay_tool_answers.json": Expected("AgentRelayFunction", NO_FAILURES),
    # The call reaches the calculator's own stack over the hub, and its answer comes back.
    "agent/request_tool_task.json": Expected(
        "RequestToolFunction", lambda r: r == {}, messages=("tool.requested", "tool.completed")
    ),
    "agent/turns_finish.json": Expected(
        "AgentTurnsFunction", lambda r: r["stop_reason"] == "end_turn" and r["output_text"] != ""
    ),
    "agent/turns_fold.json": Expected(
        "AgentTurnsFunction", lambda r: r["turn"] == 2 and len(r["transcript"]) == 1
    ),
    "core/hub_events.json": Expected("CoreWriterFunction", NO_FAILURES),
    "core/request_accepted.json": Expected("CoreWriterFunction", NO_FAILURES),
    "customization/cancel_requests.json": Expected(
        "CustomizationCancelFunction", NO_FAILURES, messages=("customization.cancelled",)
    ),
    "customization/plan_job_task.json": Expected(
        "PlanCustomizationJobFunction", lambda r: r["backend"] == "bedrock" and r["request"]["JobName"]
    ),
    # Bedrock's batch of rollouts: an exact answer, one that contains the reference, a wrong one.
    "customization/rft_grader_batch.json": Expected(
        "RftGraderFunction",
        lambda r: (
            [(item["id"], item["aggregate_reward_score"]) for item in r]
            == [("sample-1", 1.0), ("sample-2", 0.5), ("sample-3", 0.0)]
        ),
    ),
    "customization/validate_dataset_task.json": Expected(
        "ValidateDatasetFunction", lambda r: r["valid"] is True and r["reports"][0]["records"] == 10
    ),
    "front_door/get_request.json": Expected(
        "FrontDoorFunction", lambda r: r["statusCode"] == 200 and body(r)["status"] == "SUCCEEDED"
    ),
    "front_door/list_datasets.json": Expected(
        "FrontDoorFunction",
        lambda r: (
            r["statusCode"] == 200
            and "ds-5f0c2a9e8b7d4c3a" in [dataset["dataset_id"] for dataset in body(r)["datasets"]]
        ),
    ),
    "front_door/list_requests.json": Expected(
        "FrontDoorFunction",
        lambda r: (
            r["statusCode"] == 200
            and "7d0c8a52-3f1e-4b6a-9c2d-5e8f1a2b3c4d" in [item["request_id"] for item in body(r)["requests"]]
            and all(item["pipeline"] == "invoke" for item in body(r)["requests"])
        ),
    ),
    "front_door/post_cancel_request.json": Expected(
        "FrontDoorFunction",
        lambda r: r["statusCode"] == 202 and body(r)["cancel_requested"] is True,
        messages=("request.cancel_requested", "customization.cancelled"),
    ),
    "front_door/post_dataset.json": Expected(
        "FrontDoorFunction", lambda r: r["statusCode"] == 201 and body(r)["dataset_id"].startswith("ds-")
    ),
    "front_door/post_request_agent.json": Expected(
        "FrontDoorFunction",
        lambda r: r["statusCode"] == 202,
        executions=1,
        messages=("request.accepted", "agent.started", "agent.completed"),
        request="SUCCEEDED",
    ),
    "front_door/post_request_chained.json": Expected(
        "FrontDoorFunction",
        lambda r: r["statusCode"] == 202,
        executions=2,
        messages=("request.accepted", "preprocess.completed", "invoke.completed"),
        request="SUCCEEDED",
    ),
    "front_door/post_request_customize.json": Expected(
        "FrontDoorFunction",
        lambda r: r["statusCode"] == 202,
        executions=1,
        messages=("request.accepted", "customization.completed"),
        request="SUCCEEDED",
    ),
    "front_door/post_request_invoke.json": Expected(
        "FrontDoorFunction",
        lambda r: r["statusCode"] == 202,
        executions=1,
        messages=("request.accepted", "invoke.completed"),
        request="SUCCEEDED",
    ),
    "front_door/post_request_preprocess.json": Expected(
        "FrontDoorFunction",
        lambda r: r["statusCode"] == 202,
        executions=1,
        messages=("request.accepted", "preprocess.completed"),
        request="SUCCEEDED",
    ),
    "front_door/post_request_rejected.json": Expected(
        "FrontDoorFunction", lambda r: r["statusCode"] == 400 and len(body(r)["errors"]) == 2
    ),
    # What it finds depends on the session's other requests: its answer counts them by kind.
    "operations/scheduled_sweep.json": Expected(
        "SweeperFunction", lambda r: set(r) == {"dead_lettered", "overdue"} and min(r.values()) >= 0
    ),
    "pipeline_kit/announcer_failed.json": Expected(
        "ProcessingPublisherFunction", lambda r: bool(r["event_id"]), messages=("preprocess.failed",)
    ),
    "pipeline_kit/announcer_started.json": Expected(
        "ProcessingPublisherFunction", lambda r: bool(r["event_id"]), messages=("invoke.started",)
    ),
    "pipeline_kit/trigger_customize.json": Expected(
        "CustomizeTriggerFunction", NO_FAILURES, executions=1, messages=("customization.completed",)
    ),
    "pipeline_kit/trigger_invoke.json": Expected(
        "InvokeTriggerFunction", NO_FAILURES, executions=2, messages=("invoke.completed", "invoke.completed")
    ),
    "pipeline_kit/trigger_preprocess.json": Expected(
        "PreprocessTriggerFunction", NO_FAILURES, executions=1, messages=("preprocess.completed",)
    ),
    "processing/cancel_requests.json": Expected(
        "ProcessingCancelFunction", NO_FAILURES, messages=("invoke.cancelled",)
    ),
    "processing/prepare_model_request_chained_task.json": Expected(
        "PrepareModelRequestFunction",
        lambda r: r["document"] == {"chunks": 1, "characters": 52, "truncated": False},
    ),
    "processing/prepare_model_request_task.json": Expected(
        "PrepareModelRequestFunction", lambda r: r["model_id"] == "amazon.nova-lite-v1:0"
    ),
    "processing/preprocess_task.json": Expected(
        "PreprocessFunction",
        lambda r: r["stats"]["chunks"] == 1 and r["chunks"][0]["ref"].startswith("s3://"),
    ),
}


def sample_events() -> list[str]:
    return sorted(
        str(path.relative_to(EVENTS_DIR)) for path in EVENTS_DIR.rglob("*.json") if is_sample_event(path)
    )


def test_every_sample_event_has_an_expected_outcome() -> None:
    assert sample_events() == sorted(EXPECTED)


def test_every_needs_file_belongs_to_an_event_and_its_files_exist(hub: Hub) -> None:
    cloud = LocalCloudClient(hub.info)
    for sidecar in EVENTS_DIR.rglob("*.needs.json"):
        event = sidecar.with_name(sidecar.name.replace(".needs.json", ".json"))
        assert event.exists(), f"{sidecar} belongs to no event"
        assert needs_path(event) == sidecar
        needs = load_needs(event, cloud.names)  # every name resolves, every file is there
        assert needs, f"{sidecar} asks for nothing"
        assert all(prerequisite.event.exists() for prerequisite in needs.invoke)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_sample_event_runs_through_local_invoke(hub: Hub, name: str) -> None:
    expected = EXPECTED[name]
    log = io.StringIO()

    outcome: Outcome = invoke(
        LocalCloudClient(hub.info),
        InvokeOptions(expected.function, EVENTS_DIR / name, follow=True, follow_timeout=90),
        err=log,
    )

    # The run's fresh ids back as the sample wrote them, for the expectations written with those.
    response = outcome.as_written(outcome.invocation.response())
    assert outcome.invocation.function_error is None, response
    assert expected.response(response), response
    assert "${" not in json.dumps(outcome.event), "an event name was left unresolved"
    assert f"START RequestId: {outcome.invocation.request_id}" in log.getvalue()
    followed = outcome.followed
    assert followed is not None
    assert not followed.timed_out, log.getvalue()
    statuses = [execution.status for execution in followed.executions.values()]
    assert statuses == ["SUCCEEDED"] * expected.executions, log.getvalue()
    seen = followed.event_types()
    assert all(seen.count(kind) >= expected.messages.count(kind) for kind in expected.messages), seen
    if not expected.messages and not expected.executions:
        assert seen == [], f"{name} should publish nothing, yet {seen}"
    if expected.request:
        assert list(followed.requests.values()) == [expected.request]
    assert outcome.ok, outcome.invocation.response()


def test_the_registrar_sample_answers_cloudformation_at_its_response_url(hub: Hub) -> None:
    from agenthub.local.cloud import custom_resource_responses_bucket

    outcome = invoke(
        LocalCloudClient(hub.info),
        InvokeOptions("ToolRegistrarFunction", EVENTS_DIR / "agent/registrar_create.json"),
        err=io.StringIO(),
    )

    assert outcome.ok, outcome.invocation.response()
    bucket = custom_resource_responses_bucket(hub.info["region"])
    stored = hub.aws("s3").get_object(Bucket=bucket, Key="sample-registrar-create")["Body"].read()
    answer = json.loads(stored)
    assert (answer["Status"], answer["PhysicalResourceId"]) == ("SUCCESS", "tool:calculator")
    assert answer["LogicalResourceId"] == "CalculatorTool"


AGENTHUB = [sys.executable, "-m", "agenthub.cli"]


def run_cli(hub: Hub, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTHUB_STATE_DIR": str(hub.state_dir)}
    return subprocess.run(
        [*AGENTHUB, "local", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )  # type: ignore[call-overload, no-any-return]


def test_local_invoke_prints_the_log_to_stderr_and_the_response_to_stdout(hub: Hub) -> None:
    result = run_cli(
        hub,
        "invoke",
        "PrepareModelRequestFunction",
        "-e",
        str(EVENTS_DIR / "processing/prepare_model_request_chained_task.json"),
    )

    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)  # nothing but the response
    assert response["document"]["chunks"] == 1
    assert "needs: s3://" in result.stderr
    assert "START RequestId: " in result.stderr
    assert "\nREPORT RequestId: " in result.stderr
    assert '"message":"model request prepared"' in result.stderr


def test_a_function_error_exits_1_with_the_error_as_the_response(hub: Hub) -> None:
    event = json.loads((EVENTS_DIR / "processing/prepare_model_request_task.json").read_text())
    event["event"]["payload"]["input"]["model_id"] = "anthropic.claude-v2"

    result = run_cli(hub, "invoke", "PrepareModelRequestFunction", "-e", "-", stdin=json.dumps(event))

    assert result.returncode == 1
    assert json.loads(result.stdout)["errorType"] == "InvalidModelRequest"


def test_env_vars_override_only_what_the_template_declares(hub: Hub, tmp_path: Path) -> None:
    env_vars = tmp_path / "env.json"
    env_vars.write_text(
        json.dumps(
            {
                "Parameters": {"NOT_DECLARED": "x"},
                "PrepareModelRequestFunction": {"ALLOWED_MODEL_IDS": "amazon.nova-micro-v1:0"},
            }
        )
    )
    task = str(EVENTS_DIR / "processing/prepare_model_request_task.json")

    overridden = run_cli(
        hub, "invoke", "PrepareModelRequestFunction", "-e", task, "--env-vars", str(env_vars)
    )
    as_deployed = run_cli(hub, "invoke", "PrepareModelRequestFunction", "-e", task)

    assert overridden.returncode == 1
    assert "is not one of the allowed models" in json.loads(overridden.stdout)["errorMessage"]
    assert "not declared for PrepareModelRequestFunction in the template" in overridden.stderr
    assert "NOT_DECLARED" in overridden.stderr
    assert as_deployed.returncode == 0, as_deployed.stderr  # the warm environments kept the template's


def test_an_unknown_function_or_name_is_a_usage_error(hub: Hub, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"bucket": "${DataLakeBuckt}"}))

    unknown_function = run_cli(hub, "invoke", "NoSuchFunction")
    unknown_name = run_cli(hub, "invoke", "PreprocessFunction", "-e", str(event))
    not_in_that_stack = run_cli(hub, "invoke", "--stack", "agent-hub", "CalculatorFunction")
    not_deployed = run_cli(hub, "invoke", "-t", str(tmp_path / "template.yaml"), "CalculatorFunction")

    assert unknown_function.returncode == 2
    assert "NoSuchFunction is not a function of any stack of the local cloud" in unknown_function.stderr
    assert "agent-hub: AgentAnnouncerFunction, " in unknown_function.stderr
    assert "agent-hub-calculator: CalculatorFunction" in unknown_function.stderr
    assert unknown_name.returncode == 2
    suggested = unknown_name.stderr.split("(did you mean ", 1)[1].split("?)", 1)[0].split(", ")
    assert suggested[0] == "DataLakeBucket"
    assert len(suggested) == len(set(suggested))  # each once, though DataLakeBucket is an output too
    assert not_in_that_stack.returncode == 2
    assert "CalculatorFunction is not a function of the stack agent-hub" in not_in_that_stack.stderr
    assert not_deployed.returncode == 2
    assert "is not a template the local cloud deployed" in not_deployed.stderr
    assert "tools/calculator/template.yaml (agent-hub-calculator)" in not_deployed.stderr
    for result in (unknown_function, unknown_name, not_in_that_stack, not_deployed):
        assert result.stdout == ""
        assert "Traceback" not in result.stderr


def test_local_event_prints_the_event_resolved(hub: Hub) -> None:
    result = run_cli(hub, "event", str(EVENTS_DIR / "pipeline_kit/trigger_invoke.json"))

    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)["Records"][0]
    assert (
        record["eventSourceARN"]
        == hub.aws("sqs").get_queue_attributes(
            QueueUrl=hub.ref("InvokeSubscriber.Queue"), AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
    )
    assert json.loads(record["body"])["TopicArn"] == hub.ref("AgentCoreTopic")


def test_the_lambda_api_route_answers_with_the_tail_of_the_log(hub: Hub) -> None:
    cloud = LocalCloudClient(hub.info)
    event = load_event(EVENTS_DIR / "processing/preprocess_task.json", cloud.names)

    answer = hub.aws("lambda").invoke(
        FunctionName=hub.ref("PreprocessFunction"), Payload=json.dumps(event).encode(), LogType="Tail"
    )

    log = base64.b64decode(answer["LogResult"]).decode()
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert json.loads(answer["Payload"].read())["stats"]["chunks"] == 1
    assert f"END RequestId: {request_id}" in log
    assert f"REPORT RequestId: {request_id}" in log
    assert len(log.encode()) <= 4096


TOOLS_DIR = EVENTS_DIR.parent / "tools"
# The tools' samples, by file under tools/: the function, and what it must answer on the hub.
TOOL_EXPECTED: dict[str, Expected] = {
    "calculator/events/tool_requested.json": Expected(
        "CalculatorFunction", NO_FAILURES, messages=("tool.completed",)
    ),
    "search_documents/events/tool_requested.json": Expected(
        "SearchDocumentsFunction", NO_FAILURES, messages=("tool.completed",)
    ),
}


def test_every_tool_sample_event_has_an_expected_outcome() -> None:
    found = sorted(str(path.relative_to(TOOLS_DIR)) for path in TOOLS_DIR.glob("*/events/*.json"))
    assert found == sorted(TOOL_EXPECTED)


@pytest.mark.parametrize("name", sorted(TOOL_EXPECTED))
@pytest.mark.parametrize("by", ["logical id", "template"])
def test_a_tool_sample_runs_through_its_stacks_function(hub: Hub, name: str, by: str) -> None:
    """`sam local invoke -t tools/<tool>/template.yaml <Function> -e tools/<tool>/events/...`,
    here: by the template, or by the logical id alone (found in the tool's stack)."""
    expected = TOOL_EXPECTED[name]
    path = TOOLS_DIR / name
    template = ["-t", str(path.parents[1] / "template.yaml")] if by == "template" else []

    result = run_cli(hub, "invoke", *template, expected.function, "-e", str(path), "--follow")

    assert result.returncode == 0, result.stderr
    assert expected.response(json.loads(result.stdout)), result.stdout
    stack = f"agent-hub-{path.parents[1].name.replace('_', '-')}"
    assert f"Invoking {expected.function} of {stack} (" in result.stderr
    assert "START RequestId: " in result.stderr
    for message in expected.messages:
        assert f"hub        {message} from tool:" in result.stderr, result.stderr
    assert "is not a function" not in result.stderr


def accepted_id(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 202, response
    return str(json.loads(response["body"])["request_id"])


def test_each_run_of_a_sample_has_fresh_ids_and_leaves_no_row_in_a_callers_catalog(hub: Hub) -> None:
    """Run twice, a sample with a fixed caller and Idempotency-Key makes two requests of its own
    (not a replay of the first), under a caller no person is; with --keep-ids, as written, the
    second run is the first one's replay."""
    sample = str(EVENTS_DIR / "front_door/post_request_preprocess.json")
    person = hub.client("sample-watcher")
    mine_before = person.fetch("/v1/requests?limit=100").body["requests"]

    first = run_cli(hub, "invoke", "FrontDoorFunction", "-e", sample)
    second = run_cli(hub, "invoke", "FrontDoorFunction", "-e", sample)
    as_written = [run_cli(hub, "invoke", "FrontDoorFunction", "-e", sample, "--keep-ids") for _ in range(2)]

    ids = {accepted_id(first), accepted_id(second)}
    assert len(ids) == 2
    assert "the event's ids made fresh" in first.stderr
    for result in (first, second):
        assert "Idempotency-Replayed" not in result.stdout
    kept = [accepted_id(result) for result in as_written]
    assert kept[0] == kept[1]
    assert "Idempotency-Replayed" in as_written[1].stdout
    assert kept[0] not in ids
    assert person.fetch("/v1/requests?limit=100").body["requests"] == mine_before


def test_a_samples_needs_get_the_same_fresh_ids_as_the_sample(hub: Hub) -> None:
    """get_request reads the request its prerequisite (core/hub_events.json) records: under fresh
    ids both are the same new request, so the read finds it, and the sample's own id is not it."""
    outcome = invoke(
        LocalCloudClient(hub.info),
        InvokeOptions("FrontDoorFunction", EVENTS_DIR / "front_door/get_request.json"),
        err=io.StringIO(),
    )

    response = outcome.invocation.response()
    assert outcome.ids is not None
    assert response["statusCode"] == 200, response
    read = body(response)["request_id"]
    sample_id = json.loads((EVENTS_DIR / "front_door/get_request.json").read_text())["pathParameters"][
        "request_id"
    ]
    assert read == outcome.ids.renamed[sample_id] != sample_id
    assert [prerequisite.function for prerequisite in outcome.prerequisites] == ["CoreWriterFunction"]
