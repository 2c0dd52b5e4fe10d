"""Nova customization end to end: presigned upload, the real Standard state machine, the job
stand-ins' scripted lifecycles, and the catalog. Each test names its model uniquely, and the
fault rules aim at that name."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from agenthub.client import HubClient
from front_door.views import WITHHELD
from tests.e2e.conftest import Hub, subject_of

SFT_RECORD = {
    "schemaVersion": "bedrock-conversation-2024",
    "system": [{"text": "Answer in one sentence."}],
    "messages": [
        {"role": "user", "content": [{"text": "What carries messages between services?"}]},
        {"role": "assistant", "content": [{"text": "The hub topic."}]},
    ],
}
# Nova's DPO schema: Converse turns, the last assistant turn holding the preference pair.
DPO_RECORD = {
    "schemaVersion": "bedrock-conversation-2024",
    "messages": [
        {"role": "user", "content": [{"text": "Is this about the hub?"}]},
        {"role": "assistant", "content": [{"text": "Yes."}]},
        {"role": "user", "content": [{"text": "What is the hub?"}]},
        {
            "role": "assistant",
            "candidates": [
                {"content": [{"text": "One SNS topic."}], "preferenceLabel": "preferred"},
                {"content": [{"text": "A database."}], "preferenceLabel": "non-preferred"},
            ],
        },
    ],
}
RFT_RECORD = {
    "messages": [{"role": "user", "content": "What is 2 + 2?"}],
    "reference_answer": {"answer": "4"},
}
CPT_RECORD = {"text": "The agent hub joins small services through one topic."}


@pytest.fixture(scope="module")
def client(hub: Hub) -> HubClient:
    return hub.client("model-trainer")


def upload(client: HubClient, records: list[Any]) -> str:
    created = client.post("/v1/datasets")
    assert created.status == 201, created.body
    form = created.body["upload"]
    body = "".join(json.dumps(record) + "\n" for record in records).encode()
    posted = requests.post(
        form["url"],
        data=form["fields"],
        files={"file": ("data.jsonl", body, "application/x-ndjson")},
        timeout=30,
    )
    assert posted.status_code in (200, 204), posted.text
    return str(created.body["dataset_id"])


def customize(client: HubClient, dataset_id: str, name: str, **fields: Any) -> str:
    request_input = {
        "method": "sft",
        "technique": "lora",
        "base_model": "amazon.nova-lite-v1:0",
        "dataset_id": dataset_id,
        "output_model_name": name,
        **fields,
    }
    reply = client.submit({"pipeline": "customize", "input": request_input})
    assert reply.status == 202, reply.body
    return str(reply.body["request_id"])


def model_name() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


def events(view: dict[str, Any]) -> list[str]:
    return [entry["event_type"] for entry in view["history"]]


def test_sft_with_lora_trains_on_bedrock_and_registers_the_model(hub: Hub, client: HubClient) -> None:
    name = model_name()
    request_id = customize(client, upload(client, [SFT_RECORD] * 8), name)

    view = client.wait(request_id, timeout=90)

    assert view["status"] == "SUCCEEDED"
    assert events(view)[:2] == ["request.accepted", "customization.started"]
    assert events(view)[-1] == "customization.completed"
    # The stand-in's default lifecycle: created InProgress, then InProgress and Completed at each check.
    assert events(view).count("customization.progress") == 2
    assert view["progress"]["status"] == "Completed"
    result = view["result"]
    assert result["backend"] == "bedrock"
    assert result["model"]["arn"].startswith("arn:aws:bedrock:us-east-1:123456789012:custom-model/" + name)
    assert result["hyperparameters"] == {
        "epochs": 2,
        "learning_rate": 1e-05,
        "warmup_steps": 10,
        "batch_size": 8,
    }
    registered = hub.aws("dynamodb").query(
        TableName=hub.ref("CatalogTable"),
        KeyConditionExpression="pk = :model",
        ExpressionAttributeValues={":model": {"S": f"MODEL#{subject_of(client)}#{name}"}},
    )["Items"]
    assert [json.loads(item["model"]["S"])["arn"] for item in registered] == [result["model"]["arn"]]
    assert result["metrics_location"] == WITHHELD  # a folder in the lake: no link to give
    metrics = hub.aws("s3").list_objects_v2(
        Bucket=hub.ref("DataLakeBucket"), Prefix=f"customization/{request_id}/"
    )["Contents"]
    assert [item["Key"].rsplit("/", 1)[-1] for item in metrics] == ["training_metrics.csv"]


def test_full_rank_dpo_runs_as_a_sagemaker_training_job(hub: Hub, client: HubClient) -> None:
    request_id = customize(
        client,
        upload(client, [DPO_RECORD] * 8),
        model_name(),
        method="dpo",
        technique="full",
        hyperparameters={"beta": 0.2},
    )

    view = client.wait(request_id, timeout=90)

    assert view["status"] == "SUCCEEDED", view["error"]
    assert view["result"]["backend"] == "sagemaker"
    artifacts = urlparse(view["result"]["model"]["artifacts_uri"])  # a presigned link to the object
    assert artifacts.path.endswith(f"agenthub-{request_id}/output/model.tar.gz")
    assert "X-Amz-Signature" in artifacts.query
    assert hub.job_status(f"agenthub-{request_id}") == "Completed"


def test_an_invalid_dataset_fails_with_a_line_numbered_report_and_starts_no_job(
    hub: Hub, client: HubClient
) -> None:
    name = model_name()
    broken = (
        [SFT_RECORD] * 5
        + ["not a record"]
        + [SFT_RECORD] * 2
        + [{"schemaVersion": "bedrock-conversation-2024"}]
    )
    request_id = customize(client, upload(client, broken), name)

    view = client.wait(request_id, timeout=60)

    assert view["status"] == "FAILED"
    assert view["error"]["error"] == "InvalidDataset"
    (report,) = view["error"]["report"]
    assert [error["line"] for error in report["errors"]] == [6, 9, None]
    assert report["errors"][1]["problem"] == "messages must be a non-empty list"
    assert report["errors"][2]["problem"] == "7 valid records; sft needs at least 8"
    assert hub.calls("CreateModelCustomizationJob", name) == 0
    assert hub.job_status(f"agenthub-{request_id}") is None


@pytest.mark.parametrize(
    ("lifecycle", "error", "cause"),
    [
        (["InProgress", "Failed"], "CustomizationJobFailed", "out of GPU memory at step 12"),
        (["InProgress", "Stopped"], "CustomizationJobStopped", "stopped before it completed"),
    ],
)
def test_a_job_that_fails_or_is_stopped_is_reported_with_its_arn_and_reason(
    hub: Hub, client: HubClient, lifecycle: list[str], error: str, cause: str
) -> None:
    name = model_name()
    hub.fault(operation="CreateModelCustomizationJob", match=name, lifecycle=lifecycle, failure_message=cause)

    view = client.wait(customize(client, upload(client, [SFT_RECORD] * 8), name), timeout=60)

    assert view["status"] == "FAILED"
    assert view["error"]["error"] == error
    assert cause in view["error"]["cause"]
    assert view["error"]["job_arn"].startswith(
        "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/"
    )


def test_a_job_past_its_time_limit_is_stopped_and_reported(hub: Hub, client: HubClient) -> None:
    name = model_name()
    hub.fault(operation="CreateTrainingJob", match=name, lifecycle=["InProgress"])
    request_id = customize(client, upload(client, [DPO_RECORD] * 8), name, method="dpo", technique="lora")

    view = client.wait(request_id, timeout=120)

    assert view["status"] == "FAILED"
    assert view["error"]["error"] == "CustomizationTimedOut"
    assert "time limit of 20 seconds" in view["error"]["cause"]
    assert hub.job_status(f"agenthub-{request_id}") == "Stopped"  # no job is left running


def test_cancelling_stops_the_job_and_the_execution(hub: Hub, client: HubClient) -> None:
    name = model_name()
    hub.fault(operation="CreateModelCustomizationJob", match=name, lifecycle=["InProgress"])
    request_id = customize(client, upload(client, [SFT_RECORD] * 8), name)
    running = client.wait(request_id, timeout=60, until=("RUNNING",))
    hub.wait_until(lambda: client.get(request_id).body["progress"] is not None, "the job's first progress")

    asked = client.post(f"/v1/requests/{request_id}/cancel")
    view = client.wait(request_id, timeout=60)

    assert running["status"] == "RUNNING"
    assert asked.status == 202
    assert view["status"] == "CANCELLED"
    assert events(view)[-1] == "customization.cancelled"
    assert hub.job_status(f"agenthub-{request_id}") == "Stopped"
    execution = hub.aws("stepfunctions").describe_execution(
        executionArn=hub.ref("NovaCustomizationJob").replace(":stateMachine:", ":execution:")
        + f":customization-{request_id}"
    )
    assert execution["status"] == "SUCCEEDED"  # it noticed the cancellation, saw the job stopped, and said so
    assert client.post(f"/v1/requests/{request_id}/cancel").status == 409


def test_a_cancel_before_the_pipeline_starts_means_no_execution_and_no_job(
    hub: Hub, client: HubClient
) -> None:
    name = model_name()
    # The trigger is slow to pick this request up, so the cancel arrives first.
    hub.fault(operation="Invoke", function="CustomizeTriggerFunction", match=name, delay_seconds=4, times=1)
    request_id = customize(client, upload(client, [SFT_RECORD] * 8), name)

    asked = client.post(f"/v1/requests/{request_id}/cancel")
    view = client.wait(request_id, timeout=30)
    hub.quiet()  # the delayed trigger has run, and found the request cancelled

    assert asked.status == 202
    assert view["status"] == "CANCELLED"
    executions = hub.aws("stepfunctions").list_executions(stateMachineArn=hub.ref("NovaCustomizationJob"))[
        "executions"
    ]
    assert f"customization-{request_id}" not in [execution["name"] for execution in executions]
    assert hub.calls("CreateModelCustomizationJob", name) == 0
    assert hub.job_status(f"agenthub-{request_id}") is None


def test_a_redelivered_start_makes_one_execution_and_one_job(hub: Hub, client: HubClient) -> None:
    name = model_name()
    dataset = upload(client, [SFT_RECORD] * 8)
    request_id = customize(client, dataset, name)
    client.wait(request_id, timeout=90)
    request_input = {
        "method": "sft",
        "technique": "lora",
        "base_model": "amazon.nova-lite-v1:0",
        "dataset_id": dataset,
        "validation_dataset_id": None,
        "teacher_model": None,
        "hyperparameters": {},
        "output_model_name": name,
    }
    hub.publish_accepted(client, request_id, "customize", request_input, "customization")
    hub.quiet()  # the redelivered start has been taken, and done whatever it does

    executions = hub.aws("stepfunctions").list_executions(stateMachineArn=hub.ref("NovaCustomizationJob"))[
        "executions"
    ]
    assert [execution["name"] for execution in executions].count(f"customization-{request_id}") == 1
    assert hub.calls("CreateModelCustomizationJob", name) == 1


@pytest.mark.parametrize(
    ("method", "technique", "records", "operation", "error"),
    [
        ("sft", "lora", [SFT_RECORD] * 8, "CreateModelCustomizationJob", "ThrottlingException"),
        ("dpo", "full", [DPO_RECORD] * 8, "CreateTrainingJob", "ThrottlingException"),
    ],
)
def test_a_start_whose_answer_was_lost_follows_the_job_it_made(
    hub: Hub, client: HubClient, method: str, technique: str, records: list[Any], operation: str, error: str
) -> None:
    """The job was created but the answer never arrived; the retried start must not make a second one."""
    name = model_name()
    hub.fault(operation=operation, match=name, error=error, after_effect=True, times=1)

    view = client.wait(
        customize(client, upload(client, records), name, method=method, technique=technique), timeout=90
    )

    assert view["status"] == "SUCCEEDED", view["error"]
    assert hub.calls(operation, name) == 2


def test_a_dry_run_validates_and_reports_the_job_it_would_start_and_starts_nothing(
    hub: Hub, client: HubClient
) -> None:
    name = model_name()
    request_id = customize(client, upload(client, [SFT_RECORD] * 8), name, dry_run=True)

    view = client.wait(request_id, timeout=60)

    assert view["status"] == "SUCCEEDED", view["error"]
    result = view["result"]
    assert result["dry_run"] is True
    assert result["started"] is False
    assert result["would_start"]["api_call"] == "bedrock:CreateModelCustomizationJob"
    assert result["would_start"]["parameters"]["BaseModelIdentifier"] == "amazon.nova-lite-v1:0:300k"
    assert result["estimated_training_tokens"] == result["datasets"][0]["estimated_tokens"] * 2  # 2 epochs
    assert result["datasets"][0]["records"] == 8
    assert hub.calls("CreateModelCustomizationJob", name) == 0
    assert hub.job_status(f"agenthub-{request_id}") is None
    assert name not in [model["name"] for model in client.fetch("/v1/models").body["models"]]


def test_rft_trains_on_bedrock_with_the_stacks_grader(hub: Hub, client: HubClient) -> None:
    name = model_name()
    request_id = customize(
        client, upload(client, [RFT_RECORD] * 100), name, method="rft", base_model="amazon.nova-2-lite-v1:0"
    )

    view = client.wait(request_id, timeout=90)

    assert view["status"] == "SUCCEEDED", view["error"]
    grader = hub.cloud.stack.function("RftGraderFunction").name  # type: ignore[union-attr]
    assert (
        hub.calls(
            "CreateModelCustomizationJob",
            f'"lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:{grader}"',
        )
        == 1
    )
    assert hub.calls("CreateModelCustomizationJob", name) == 1


def test_cpt_runs_on_the_hyperpod_cluster_through_its_kubernetes_api(hub: Hub, client: HubClient) -> None:
    name = model_name()
    request_id = customize(client, upload(client, [CPT_RECORD] * 4), name, method="cpt", technique="full")

    view = client.wait(request_id, timeout=90)

    assert view["status"] == "SUCCEEDED", view["error"]
    assert view["result"]["backend"] == "hyperpod"
    assert view["result"]["model"]["artifacts_uri"] == WITHHELD  # its folder in the lake
    assert hub.job_status(f"agenthub-{request_id}") == "Completed"


def test_a_hyperpod_job_past_its_time_limit_is_deleted(hub: Hub, client: HubClient) -> None:
    name = model_name()
    hub.fault(operation="CreateHyperPodJob", match=name, lifecycle=["InProgress"])
    request_id = customize(client, upload(client, [CPT_RECORD] * 4), name, method="cpt", technique="full")

    view = client.wait(request_id, timeout=120)

    assert view["status"] == "FAILED"
    assert view["error"]["error"] == "CustomizationTimedOut"
    assert hub.job_status(f"agenthub-{request_id}") == "Stopped"  # deleted: no job is left running


def test_a_deployed_model_is_listed_and_invoked_by_its_owner_and_nobody_else(
    hub: Hub, client: HubClient
) -> None:
    name = model_name()
    request_id = customize(client, upload(client, [SFT_RECORD] * 8), name, deploy=True)

    view = client.wait(request_id, timeout=90)

    assert view["status"] == "SUCCEEDED", view["error"]
    deployment = view["result"]["model"]["deployment_arn"]
    assert ":custom-model-deployment/" in deployment
    assert hub.cloud.emulator.standins.deployment_tags(deployment)["agenthub:stack"]  # type: ignore[union-attr]
    (listed,) = [model for model in client.fetch("/v1/models").body["models"] if model["name"] == name]
    assert listed["invocable_arn"] == deployment
    assert listed["method"] == "sft"
    assert listed["base_model"] == "amazon.nova-lite-v1:0"
    assert listed["datasets"]
    assert listed["metrics_location"] == WITHHELD
    assert "s3://" not in json.dumps(listed)

    answered = client.wait(
        client.submit(
            {"pipeline": "invoke", "input": {"prompt": "Who writes it?", "custom_model": name}}
        ).body["request_id"],
        timeout=60,
    )
    stranger = hub.client("someone-else").submit(
        {"pipeline": "invoke", "input": {"prompt": "Who writes it?", "custom_model": name}}
    )
    undeployed = client.submit(
        {"pipeline": "agent", "input": {"prompt": "hi", "custom_model": "never-trained"}}
    )

    assert answered["status"] == "SUCCEEDED", answered["error"]
    assert answered["result"]["output_text"].startswith(f"[local custom model {name}")
    assert stranger.status == 400
    assert stranger.body["errors"][0]["field"] == "input.custom_model"
    assert undeployed.status == 400
    assert "no deployed model named 'never-trained'" in undeployed.body["errors"][0]["problem"]
