"""The operations dashboard names the stack's own resources (a typo would draw an empty graph)."""

from __future__ import annotations

import json

from agenthub.local.deploy import Stack
from tests.support.moto_stack import client


def test_the_dashboard_draws_the_stacks_api_state_machines_and_dead_letter_queues(stack: Stack) -> None:
    body = json.loads(
        client("cloudwatch").get_dashboard(DashboardName=stack.ref("OperationsDashboard"))["DashboardBody"]
    )
    metrics = [metric for widget in body["widgets"] for metric in widget["properties"]["metrics"]]
    arns = {
        machine["stateMachineArn"]
        for machine in client("stepfunctions").list_state_machines()["stateMachines"]
    }
    drawn = {
        value
        for metric in metrics
        for value in metric
        if isinstance(value, str) and ":stateMachine:" in value
    }
    api_names = {metric[3] for metric in metrics if metric[0] == "AWS/ApiGateway"}
    searches = [metric[0]["expression"] for metric in metrics if isinstance(metric[0], dict)]

    assert drawn == {
        stack.ref(name)
        for name in ("PreprocessPipeline", "InvokeModelPipeline", "AgentRun", "NovaCustomizationJob")
    }
    assert drawn <= arns
    rest_apis = {api["name"] for api in client("apigateway").get_rest_apis()["items"]}
    assert api_names <= rest_apis
    assert any("DeadLetterQueue" in search and stack.name in search for search in searches)
    assert {title for widget in body["widgets"] for title in [widget["properties"]["title"]]} >= {
        "API answers (4xx, 5xx)",
        "Executions failed and timed out",
        "Bedrock: throttles and tokens",
        "Customization jobs",
        "Front door: 503 to retry, 500 to fix",
    }


def test_the_dashboard_draws_the_metrics_the_front_door_counts_its_failures_by(stack: Stack) -> None:
    from front_door.app import DEPENDENCY_MISCONFIGURED, DEPENDENCY_UNAVAILABLE, UNEXPECTED_ERRORS

    body = json.loads(
        client("cloudwatch").get_dashboard(DashboardName=stack.ref("OperationsDashboard"))["DashboardBody"]
    )
    (widget,) = [w for w in body["widgets"] if w["properties"]["title"].startswith("Front door")]
    rows = widget["properties"]["metrics"]
    # The first row names everything; "." repeats the row above's value.
    drawn = [
        [first if value == "." else value for value, first in zip(row, rows[0], strict=True)] for row in rows
    ]

    assert {row[1] for row in drawn} == {DEPENDENCY_UNAVAILABLE, DEPENDENCY_MISCONFIGURED, UNEXPECTED_ERRORS}
    assert all(
        (row[0], row[2], row[3])
        == ("AgentHub", "service", stack.function("FrontDoorFunction").environment["POWERTOOLS_SERVICE_NAME"])
        for row in drawn
    )
