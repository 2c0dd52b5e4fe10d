"""The catalog's status rules, over every order the hub can deliver a request's events in."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.catalog import CatalogRow, StoredValue
from contracts.requests import RequestStatus
from core.transitions import ForeignEvent, StoredParts, apply_event, forward, succeeded_by
from shared.hub import HubEvent, new_event

T0 = datetime(2026, 11, 25, tzinfo=UTC)


def event(
    event_type: str,
    seconds: int = 0,
    pipeline: str = "invoke",
    subject: str = "ada",
    sequence: int = 0,
    **payload: Any,
) -> HubEvent:
    return new_event(
        sequence=sequence,
        event_type=event_type,
        request_id="r-1",
        pipeline=pipeline,
        source="test",
        subject=subject,
        payload=payload,
        occurred_at=T0 + timedelta(seconds=seconds),
    )


def parts_for(hub_event: HubEvent) -> StoredParts:
    if hub_event.event_type == "request.accepted":
        return StoredParts(input=StoredValue(inline="{}"), stages=("invoke",))
    return StoredParts(output=StoredValue(inline=f'"{hub_event.event_type}"'))


def replay(*events: HubEvent) -> CatalogRow:
    row: CatalogRow | None = None
    for hub_event in events:
        updated = apply_event(row, hub_event, parts_for(hub_event), now="now")
        row = updated or row
    assert row is not None
    return row


ACCEPTED = event("request.accepted")
STARTED = event("invoke.started", 1)
COMPLETED = event("invoke.completed", 2)
FAILED = event("invoke.failed", 3)


@pytest.mark.parametrize("order", list(itertools.permutations([ACCEPTED, STARTED, COMPLETED])))
def test_a_successful_request_ends_succeeded_whatever_the_arrival_order(order: tuple[HubEvent, ...]) -> None:
    row = replay(*order)

    assert row.status == RequestStatus.SUCCEEDED
    assert row.result == StoredValue(inline='"invoke.completed"')
    assert row.created_at == ACCEPTED.occurred_at.isoformat()
    assert len(row.history) == 3


@pytest.mark.parametrize("order", list(itertools.permutations([ACCEPTED, STARTED, COMPLETED, FAILED])))
def test_the_first_terminal_event_to_arrive_decides(order: tuple[HubEvent, ...]) -> None:
    first_terminal = next(item for item in order if item in (COMPLETED, FAILED))

    row = replay(*order)

    expected = RequestStatus.SUCCEEDED if first_terminal is COMPLETED else RequestStatus.FAILED
    assert row.status == expected
    assert (row.result is not None) == (expected == RequestStatus.SUCCEEDED)
    assert (row.error is not None) == (expected == RequestStatus.FAILED)


def test_a_duplicate_event_changes_nothing() -> None:
    row = replay(ACCEPTED, STARTED)

    assert apply_event(row, STARTED, parts_for(STARTED), now="later") is None


def test_an_earlier_stage_completing_keeps_a_chained_request_running() -> None:
    preprocessed = event("preprocess.completed", 2, chunks=["s3://lake/c0"])

    row = replay(ACCEPTED, event("preprocess.started", 1), preprocessed)

    assert row.status == RequestStatus.RUNNING
    assert row.result is None
    assert set(row.stage_outputs) == {"preprocess"}


def test_a_cancelled_event_is_terminal_and_a_cancel_request_alone_is_not() -> None:
    asked = replay(ACCEPTED, event("request.cancel_requested", 1))
    cancelled = replay(ACCEPTED, event("invoke.cancelled", 2), COMPLETED)

    assert asked.status == RequestStatus.ACCEPTED
    assert cancelled.status == RequestStatus.CANCELLED
    assert cancelled.result is None


def test_progress_keeps_the_latest_report_even_when_an_older_one_arrives_late() -> None:
    newer = event("customize.progress", 20, pipeline="customize", status="InProgress", sequence=2)
    older = event("customize.progress", 10, pipeline="customize", status="InProgress", sequence=1)

    row = replay(event("request.accepted", pipeline="customize"), newer, older)

    assert row.progress == StoredValue(inline='"customize.progress"')
    assert row.progress_at == newer.occurred_at.isoformat()
    assert len(row.history) == 3


def test_an_event_for_another_callers_request_is_refused() -> None:
    row = replay(ACCEPTED)

    with pytest.raises(ForeignEvent):
        apply_event(row, event("invoke.completed", 5, subject="mallory"), StoredParts(), now="now")


@pytest.mark.parametrize(
    ("current", "requested", "expected"),
    [
        (RequestStatus.ACCEPTED, RequestStatus.RUNNING, RequestStatus.RUNNING),
        (RequestStatus.RUNNING, RequestStatus.ACCEPTED, RequestStatus.RUNNING),
        (RequestStatus.SUCCEEDED, RequestStatus.FAILED, RequestStatus.SUCCEEDED),
        (RequestStatus.FAILED, RequestStatus.RUNNING, RequestStatus.FAILED),
        (RequestStatus.RUNNING, RequestStatus.CANCELLED, RequestStatus.CANCELLED),
    ],
)
def test_statuses_only_move_forward(
    current: RequestStatus, requested: RequestStatus, expected: RequestStatus
) -> None:
    assert forward(current, requested) == expected


def test_the_event_that_succeeded_a_request_is_known_from_its_history() -> None:
    late = event("invoke.completed", 9, sequence=1)

    row = replay(ACCEPTED, STARTED, COMPLETED, late)

    assert succeeded_by(row, COMPLETED.event_id)
    assert not succeeded_by(row, late.event_id)  # a second answer: history only
    assert not succeeded_by(replay(ACCEPTED, FAILED, COMPLETED), COMPLETED.event_id)


GAVE_UP = event("request.failed", 4, error="DeadLettered")


def test_a_late_final_event_is_kept_in_the_history_saying_it_changed_nothing() -> None:
    row = replay(ACCEPTED, STARTED, FAILED, COMPLETED)

    assert row.status == RequestStatus.FAILED
    assert row.history[-1].event_type == "invoke.completed"
    assert row.history[-1].note == "arrived after the request ended FAILED: recorded here only"
    assert [entry.note for entry in row.history[:-1]] == [None, None, None]


def test_the_hubs_failure_gives_way_to_the_pipelines_own_outcome() -> None:
    """A message redriven from a dead-letter queue finishes the work the sweeper had given up on."""
    row = replay(ACCEPTED, STARTED, GAVE_UP, COMPLETED)

    assert row.status == RequestStatus.SUCCEEDED
    assert row.error is None
    assert row.result == StoredValue(inline='"invoke.completed"')
    assert row.history[-1].note == "the pipeline's own outcome replaces the hub's FAILED (redriven work)"
    assert succeeded_by(row, COMPLETED.event_id)


def test_the_hubs_failure_gives_way_to_the_pipelines_own_failure_and_its_error() -> None:
    row = replay(ACCEPTED, GAVE_UP, FAILED)

    assert row.status == RequestStatus.FAILED
    assert row.error == StoredValue(inline='"invoke.failed"')


def test_the_hubs_failure_after_the_pipeline_ended_changes_nothing() -> None:
    row = replay(ACCEPTED, STARTED, COMPLETED, GAVE_UP)

    assert row.status == RequestStatus.SUCCEEDED
    assert row.error is None
    assert row.history[-1].note == "arrived after the request ended SUCCEEDED: recorded here only"


def test_a_pipelines_failure_is_final_even_for_a_later_success() -> None:
    row = replay(ACCEPTED, FAILED, GAVE_UP, COMPLETED)

    assert row.status == RequestStatus.FAILED
    assert row.error == StoredValue(inline='"invoke.failed"')
