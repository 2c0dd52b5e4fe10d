"""What the console makes of catalog rows and execution histories, without an emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from agenthub.local.console.records import (
    LakeUnreadable,
    history_rows,
    model_versions,
    registered_tools,
    request_summary,
    request_view,
    summarize,
)

LAKE = "s3://lake-bucket"


def row(history: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
    """A request item as the core writer stores it (functions/contracts/catalog.py: to_item)."""
    return {
        "pk": "REQUEST#r-1",
        "sk": "REQUEST",
        "request_id": "r-1",
        "subject": "sub-ada",
        "pipeline": "invoke",
        "status": body.pop("status", "SUCCEEDED"),
        "updated_at": "2026-01-01T00:00:09+00:00",
        "version": len(history),
        "body": json.dumps({"stages": ["invoke"], "history": history, **body}),
    }


def event(event_type: str, second: int, status: str) -> dict[str, Any]:
    return {
        "event_id": f"e-{event_type}",
        "event_type": event_type,
        "occurred_at": f"2026-01-01T00:00:0{second}+00:00",
        "status": status,
    }


def no_lake(uri: str) -> Any:
    raise AssertionError(f"nothing should be read from the lake, but {uri} was")


def test_the_timeline_is_in_time_order_with_each_event_s_stored_payload() -> None:
    history = [
        event("invoke.started", 2, "RUNNING"),
        event("request.accepted", 1, "RUNNING"),  # redriven: applied after a later event
        event("invoke.completed", 3, "SUCCEEDED"),
    ]
    item = row(
        history,
        input={"inline": json.dumps({"prompt": "hello"})},
        stage_outputs={"invoke": {"inline": json.dumps({"output_text": "hi there"})}},
        result={"inline": json.dumps({"output_text": "hi there"})},
    )

    view = request_view(item, no_lake)

    assert [line.event_type for line in view.timeline] == [
        "request.accepted",
        "invoke.started",
        "invoke.completed",
    ]
    assert [line.applied_late for line in view.timeline] == [True, False, False]
    assert [line.offset_seconds for line in view.timeline] == [0.0, 1.0, 2.0]
    accepted, started, completed = view.timeline
    assert (accepted.stored_as, accepted.stored and accepted.stored.value) == ("input", {"prompt": "hello"})
    assert started.stored is None  # the catalog keeps no payload of a started event
    assert completed.stored is not None
    assert completed.stored.summary == "output_text: 'hi there'"
    assert view.stages == ["invoke"]
    assert view.version == 3


def test_values_in_the_lake_are_read_and_one_that_cannot_be_is_shown_as_a_problem() -> None:
    def lake(uri: str) -> Any:
        if uri.endswith("input.json"):
            return {"text": "a long document"}
        raise LakeUnreadable(f"{uri}: NoSuchKey")

    item = row(
        [event("request.accepted", 1, "ACCEPTED"), event("preprocess.failed", 2, "FAILED")],
        status="FAILED",
        input={"ref": f"{LAKE}/requests/r-1/input.json"},
        error={"ref": f"{LAKE}/errors/r-1/preprocess.json"},
    )

    view = request_view(item, lake)

    assert view.input is not None
    assert view.input.value == {"text": "a long document"}
    assert view.error is not None
    assert view.error.problem == f"{LAKE}/errors/r-1/preprocess.json: NoSuchKey"
    assert view.timeline[1].stored is view.error
    assert view.refs == [f"{LAKE}/requests/r-1/input.json", f"{LAKE}/errors/r-1/preprocess.json"]


def test_only_the_latest_progress_carries_the_stored_progress() -> None:
    item = row(
        [
            event("customization.progress", 1, "RUNNING"),
            event("customization.progress", 2, "RUNNING"),
        ],
        status="RUNNING",
        progress={"inline": json.dumps({"status": "InProgress", "checks": 2})},
    )

    first, latest = request_view(item, no_lake).timeline

    assert first.stored is None
    assert latest.stored_as == "latest progress"


def test_a_summary_and_a_row_without_a_body_still_show() -> None:
    summary = request_summary(
        {"pk": "REQUEST#r-9", "status": "ACCEPTED", "updated_at": "2026-01-01T00:00:00Z"}
    )

    assert (summary.request_id, summary.status, summary.created_at) == ("r-9", "ACCEPTED", None)
    assert summary.duration_seconds is None
    assert request_view({"pk": "REQUEST#r-9"}, no_lake).timeline == []


def test_summaries_say_what_a_value_holds_in_one_line() -> None:
    assert (
        summarize({"error": "InvalidDataset", "cause": "line 3: bad role"})
        == "InvalidDataset: line 3: bad role"
    )
    assert (
        summarize({"chunks": [1, 2], "stats": {"words": 9}, "model": None})
        == "chunks: [2 items], stats: {words}"
    )
    assert len(summarize({"text": "x" * 1000}, limit=50)) == 50


def test_models_newest_first_and_other_rows_attribute_by_attribute() -> None:
    models = model_versions(
        [
            {
                "pk": "MODEL#sub-ada#faq",
                "sk": f"REQUEST#r-{n}",
                "subject": "sub-ada",
                "created_at": f"2026-01-0{n}T00:00:00+00:00",
                "request_id": f"r-{n}",
                "model": json.dumps({"name": "faq", "arn": f"arn:model/{n}"}),
            }
            for n in (1, 2)
        ]
    )
    spec = {"name": "weather", "description": "The weather.", "input_schema": {"type": "object"}}
    tools = registered_tools(
        [
            {
                "pk": "TOOLS",
                "sk": name,
                "body": json.dumps(
                    {"spec": {**spec, "name": name}, "stack": "s", "changed_at": "t", "withdrawn": gone}
                ),
            }
            for name, gone in (("weather", False), ("almanac", True))
        ]
    )

    assert [(m.name, m.request_id, m.model["arn"]) for m in models] == [
        ("faq", "r-2", "arn:model/2"),
        ("faq", "r-1", "arn:model/1"),
    ]
    assert models[0].registered_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert [(t.name, t.withdrawn, t.input_schema) for t in tools] == [
        ("weather", False, {"type": "object"}),  # what agents may use first, then the withdrawn
        ("almanac", True, {"type": "object"}),
    ]


def test_history_rows_mark_failures_and_the_retries_after_them() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        {"type": "TaskStateEntered", "id": 1, "timestamp": at, "stateEnteredEventDetails": {"name": "Ask"}},
        {
            "type": "TaskScheduled",
            "id": 2,
            "timestamp": at,
            "taskScheduledEventDetails": {
                "resourceType": "lambda",
                "resource": "invoke",
                "parameters": json.dumps({"FunctionName": "arn:aws:lambda:us-east-1:1:function:stack-Ask"}),
            },
        },
        {
            "type": "TaskFailed",
            "id": 3,
            "timestamp": at,
            "taskFailedEventDetails": {"error": "Lambda.TooManyRequestsException", "cause": "slow down"},
        },
        {
            "type": "TaskScheduled",
            "id": 4,
            "timestamp": at,
            "taskScheduledEventDetails": {"resource": "invoke"},
        },
    ]

    rows = history_rows(events)

    assert [(r.failure, r.retry) for r in rows] == [
        (False, False),
        (False, False),
        (True, False),
        (False, True),
    ]
    assert rows[1].summary == "lambda:invoke → stack-Ask"
    assert rows[2].summary == "Lambda.TooManyRequestsException: slow down"
    assert {r.state for r in rows} == {"Ask"}
    assert json.loads(rows[1].details)["parameters"]["FunctionName"].endswith("stack-Ask")
