"""The customization microservice and its front-door routes, against the template's resources (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from agenthub.local.deploy import Stack
from contracts.customization import dataset_key
from tests.support.events import api_event, load_event
from tests.support.moto_stack import FunctionRunner, client, deployed_stack, drain, hub_messages

SUBJECT = "2f6b7a3e-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
SFT_RECORD = {
    "schemaVersion": "bedrock-conversation-2024",
    "messages": [
        {"role": "user", "content": [{"text": "What is the hub?"}]},
        {"role": "assistant", "content": [{"text": "One SNS topic."}]},
    ],
}


def route(
    functions: FunctionRunner, method: str, path: str, body: Any = None, subject: str | None = None
) -> dict[str, Any]:
    event = api_event("front_door/get_request.json", subject=subject)
    event.update({"httpMethod": method, "path": path, "resource": path, "pathParameters": None})
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["Content-Type"] = "application/json"
    response: dict[str, Any] = functions.invoke("FrontDoorFunction", event)
    return {"status": response["statusCode"], "body": json.loads(response["body"])}


def submit(
    functions: FunctionRunner, request_input: dict[str, Any], subject: str | None = None
) -> dict[str, Any]:
    event = api_event(
        "front_door/post_request_invoke.json",
        body={"pipeline": "customize", "input": request_input},
        subject=subject,
    )
    response: dict[str, Any] = functions.invoke("FrontDoorFunction", event)
    return {"status": response["statusCode"], "body": json.loads(response["body"])}


def upload(stack: Stack, subject: str, dataset_id: str, records: list[Any]) -> None:
    body = "".join(json.dumps(record) + "\n" for record in records).encode()
    client("s3").put_object(
        Bucket=stack.ref("DataLakeBucket"), Key=dataset_key(subject, dataset_id), Body=body
    )


def sft(**fields: Any) -> dict[str, Any]:
    return {
        "method": "sft",
        "technique": "lora",
        "base_model": "amazon.nova-lite-v1:0",
        "dataset_id": "ds-train",
        "output_model_name": "hub-helper",
        **fields,
    }


def test_a_dataset_upload_is_signed_for_the_callers_own_prefix_and_works(
    stack: Stack, functions: FunctionRunner
) -> None:
    created = route(functions, "POST", "/v1/datasets")

    assert created["status"] == 201
    upload_form = created["body"]["upload"]
    key = upload_form["fields"]["key"]
    assert key == dataset_key(SUBJECT, created["body"]["dataset_id"])
    posted = requests.post(
        upload_form["url"],
        data=upload_form["fields"],
        files={"file": ("train.jsonl", json.dumps(SFT_RECORD).encode(), "application/x-ndjson")},
        timeout=30,
    )
    assert posted.status_code in (200, 204)
    stored = client("s3").get_object(Bucket=stack.ref("DataLakeBucket"), Key=key)["Body"].read()
    assert json.loads(stored) == SFT_RECORD


def test_a_customization_request_for_an_uploaded_dataset_is_accepted(
    stack: Stack, functions: FunctionRunner
) -> None:
    upload(stack, SUBJECT, "ds-train", [SFT_RECORD] * 8)

    response = submit(functions, sft())

    assert response["status"] == 202
    assert response["body"]["stages"] == ["customization"]
    (accepted,) = hub_messages(drain(stack.ref("CustomizeSubscriber.Queue")))
    assert accepted["first_stage"] == "customization"


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"method": "ppo", "technique": "lora"}, "input", "ppo supports: full on amazon.nova-lite-v1:0"),
        (
            {"method": "rft", "base_model": "amazon.nova-pro-v1:0"},
            "input",
            "rft supports: lora on amazon.nova-2-lite-v1:0",
        ),
        # This stack was deployed without HyperPodClusterArn: a HyperPod-only method says what is missing.
        ({"method": "cpt", "technique": "full"}, "input", "has no HyperPod cluster: deploy the stack with"),
        (
            {"method": "sft", "backend": "hyperpod"},
            "input.backend",
            "runs on bedrock, sagemaker, not hyperpod",
        ),
        ({"hyperparameters": {"epochs": 50}}, "input.hyperparameters.epochs", "outside 1..5"),
        # JSON's 1e999 is infinity, and Python's parser takes NaN: neither may reach the bounds check.
        ({"hyperparameters": {"epochs": float("inf")}}, "input.hyperparameters.epochs", "finite number"),
        (
            {"hyperparameters": {"learning_rate": float("nan")}},
            "input.hyperparameters.learning_rate",
            "finite",
        ),
        (
            {"dataset_id": "ds-never-uploaded"},
            "input.dataset_id",
            "no dataset ds-never-uploaded was uploaded",
        ),
        (
            {"method": "distillation", "teacher_model": "amazon.nova-micro-v1:0"},
            "input.teacher_model",
            "cannot teach",
        ),
    ],
)
def test_an_unsupported_or_invalid_customization_is_400_and_publishes_nothing(
    stack: Stack, functions: FunctionRunner, changes: dict[str, Any], field: str, problem: str
) -> None:
    upload(stack, SUBJECT, "ds-train", [SFT_RECORD] * 8)

    response = submit(functions, sft(**changes))

    assert response["status"] == 400
    (error,) = response["body"]["errors"]
    assert error["field"] == field
    assert problem in error["problem"]
    assert drain(stack.ref("CustomizeSubscriber.Queue")) == []
    assert drain(stack.ref("CoreWriterSubscriber.Queue")) == []


def test_a_caller_cannot_name_another_callers_dataset(stack: Stack, functions: FunctionRunner) -> None:
    upload(stack, "someone-else", "ds-theirs", [SFT_RECORD] * 8)

    response = submit(functions, sft(dataset_id="ds-theirs"))

    assert response["status"] == 400
    assert response["body"]["errors"][0]["field"] == "input.dataset_id"


@pytest.fixture
def with_training_image() -> Iterator[FunctionRunner]:
    with deployed_stack(
        NovaTrainingImageUri="123456789012.dkr.ecr.us-east-1.amazonaws.com/nova:sft"
    ) as stack:
        runner = FunctionRunner(stack)
        yield runner
        runner.close()


def test_the_plan_routes_by_the_capability_table(with_training_image: FunctionRunner) -> None:
    functions = with_training_image
    bedrock = functions.invoke("PlanCustomizationJobFunction", load_event("customization/plan_job_task.json"))
    event = load_event("customization/plan_job_task.json")
    event["event"]["payload"]["input"].update(
        {"method": "dpo", "technique": "full", "hyperparameters": {"beta": 0.2}}
    )
    sagemaker = functions.invoke("PlanCustomizationJobFunction", event)

    request_id = event["event"]["request_id"]
    assert bedrock["backend"] == "bedrock"
    assert bedrock["request"]["JobName"] == f"agenthub-{request_id}"
    assert bedrock["request"]["ClientRequestToken"] == request_id
    assert bedrock["request"]["CustomizationType"] == "FINE_TUNING"
    assert bedrock["request"]["HyperParameters"]["epochCount"] == "2"
    assert bedrock["request"]["TrainingDataConfig"]["S3Uri"].endswith(
        f"datasets/{SUBJECT}/ds-5f0c2a9e8b7d4c3a.jsonl"
    )
    assert sagemaker["backend"] == "sagemaker"
    assert sagemaker["request"]["TrainingJobName"] == f"agenthub-{request_id}"
    assert sagemaker["request"]["HyperParameters"]["beta"] == "0.2"
    assert sagemaker["request"]["ResourceConfig"]["InstanceCount"] == 4


def test_a_sagemaker_method_without_a_training_image_says_what_is_missing(
    stack: Stack, functions: FunctionRunner
) -> None:
    event = load_event("customization/plan_job_task.json")
    event["event"]["payload"]["input"].update({"method": "dpo", "technique": "full"})

    with pytest.raises(Exception, match="no NovaTrainingImageUri") as raised:
        functions.invoke("PlanCustomizationJobFunction", event)

    assert type(raised.value).__name__ == "BackendNotConfigured"


def validation_task(stack: Stack, dataset_id: str) -> dict[str, Any]:
    event = load_event("customization/validate_dataset_task.json", stack)
    uri = f"s3://{stack.ref('DataLakeBucket')}/{dataset_key(SUBJECT, dataset_id)}"
    event["plan"]["datasets"] = [{"role": "training", "uri": uri}]
    return event


def test_dataset_validation_reports_line_numbers(stack: Stack, functions: FunctionRunner) -> None:
    upload(stack, SUBJECT, "ds-good", [SFT_RECORD] * 8)
    upload(stack, SUBJECT, "ds-bad", [SFT_RECORD] * 8 + [{"messages": []}] + [SFT_RECORD])

    good = functions.invoke("ValidateDatasetFunction", validation_task(stack, "ds-good"))
    bad = functions.invoke("ValidateDatasetFunction", validation_task(stack, "ds-bad"))

    assert good["valid"] is True
    assert good["reports"][0]["records"] == 8
    assert bad["valid"] is False
    assert bad["reports"][0]["errors"] == [
        {"line": 9, "problem": "schemaVersion must be a string (bedrock-conversation-2024)"}
    ]


@pytest.fixture
def small_datasets_stack() -> Iterator[tuple[Stack, FunctionRunner]]:
    with deployed_stack(DatasetMaxBytes="100") as stack:
        runner = FunctionRunner(stack)
        yield stack, runner
        runner.close()


def test_a_dataset_over_the_size_limit_is_refused(small_datasets_stack: tuple[Stack, FunctionRunner]) -> None:
    stack, functions = small_datasets_stack
    upload(stack, SUBJECT, "ds-big", [SFT_RECORD] * 8)

    report = functions.invoke("ValidateDatasetFunction", validation_task(stack, "ds-big"))

    assert report["valid"] is False
    assert "the limit is 100" in report["reports"][0]["errors"][0]["problem"]


def test_cancelling_a_request_asks_its_pipeline_through_the_hub(
    stack: Stack, functions: FunctionRunner
) -> None:
    upload(stack, SUBJECT, "ds-train", [SFT_RECORD] * 8)
    request_id = submit(functions, sft())["body"]["request_id"]
    functions.invoke("CoreWriterFunction", _as_sqs(drain(stack.ref("CoreWriterSubscriber.Queue"))))

    cancelled = route(functions, "POST", f"/v1/requests/{request_id}/cancel")
    someone_else = route(functions, "POST", f"/v1/requests/{request_id}/cancel", subject="someone-else")

    assert cancelled == {
        "status": 202,
        "body": {"request_id": request_id, "status": "ACCEPTED", "cancel_requested": True},
    }
    assert someone_else["status"] == 404
    (asked,) = hub_messages(drain(stack.ref("CustomizationCancelSubscriber.Queue")))
    assert asked["event_type"] == "request.cancel_requested"


def test_a_finished_request_cannot_be_cancelled(stack: Stack, functions: FunctionRunner) -> None:
    functions.invoke("CoreWriterFunction", load_event("core/hub_events.json"))

    response = route(functions, "POST", "/v1/requests/7d0c8a52-3f1e-4b6a-9c2d-5e8f1a2b3c4d/cancel")

    assert response["status"] == 409
    assert "already ended SUCCEEDED" in response["body"]["message"]
    assert drain(stack.ref("ProcessingCancelSubscriber.Queue")) == []


def test_a_completed_customization_registers_the_model_in_the_catalog(
    stack: Stack, functions: FunctionRunner
) -> None:
    from shared.hub import new_event
    from tests.support.events import hub_delivery

    model = {"name": "hub-helper", "arn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/hub-helper/x1"}
    completed = new_event(
        event_type="customization.completed",
        request_id="r-custom",
        pipeline="customize",
        source="customization",
        subject=SUBJECT,
        payload={"job_name": "agenthub-r-custom", "model": model},
    )

    functions.invoke("CoreWriterFunction", hub_delivery(completed))

    item = client("dynamodb").get_item(
        TableName=stack.ref("CatalogTable"),
        Key={"pk": {"S": f"MODEL#{SUBJECT}#hub-helper"}, "sk": {"S": "REQUEST#r-custom"}},
    )["Item"]
    assert json.loads(item["model"]["S"]) == model
    row = client("dynamodb").get_item(
        TableName=stack.ref("CatalogTable"), Key={"pk": {"S": "REQUEST#r-custom"}, "sk": {"S": "REQUEST"}}
    )["Item"]
    assert row["status"]["S"] == "SUCCEEDED"


def _as_sqs(messages: list[dict[str, Any]]) -> dict[str, Any]:
    from agenthub.local.pollers import lambda_sqs_event
    from tests.support.moto_stack import REGION

    return lambda_sqs_event(messages, "queue-arn", REGION)
