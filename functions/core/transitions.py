"""How one hub event changes a request's catalog row. Pure: no I/O, so every ordering is testable.

Statuses only move forward: ACCEPTED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED. The first
terminal status wins, and a late or duplicate event never moves a status back, but its facts
(the input of a late `request.accepted`, say) are still recorded, and its history entry says why it
changed nothing. One exception: a FAILED the hub declared (`request.failed`, from the sweeper: a
message dead-lettered, a request gone silent) gives way to the pipeline's own final word, so work
redriven from a dead-letter queue still ends the request as it really ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.catalog import CatalogRow, HistoryEntry, StoredValue
from contracts.events import CANCEL_REQUESTED, REQUEST_ACCEPTED, REQUEST_FAILED, Outcome
from contracts.requests import FINAL_STAGE, RequestStatus
from shared.hub import HubEvent

_RANK = {
    RequestStatus.ACCEPTED: 0,
    RequestStatus.RUNNING: 1,
    RequestStatus.SUCCEEDED: 2,
    RequestStatus.FAILED: 2,
    RequestStatus.CANCELLED: 2,
}


class ForeignEvent(ValueError):
    """An event names a request that belongs to another caller: never applied."""


@dataclass(frozen=True)
class StoredParts:
    """What the writer already put in the data lake (or kept inline) for this event."""

    input: StoredValue | None = None
    output: StoredValue | None = None
    stages: tuple[str, ...] = ()


def status_for(event: HubEvent) -> RequestStatus:
    """The status an event asks for, before the forward-only rule is applied."""
    if event.event_type in (REQUEST_ACCEPTED, CANCEL_REQUESTED):
        # A cancel request changes nothing by itself: the pipeline answers with `<stage>.cancelled`.
        return RequestStatus.ACCEPTED
    outcome = event.outcome
    if outcome == Outcome.COMPLETED and event.stage == FINAL_STAGE.get(event.pipeline, event.pipeline):
        return RequestStatus.SUCCEEDED
    if outcome == Outcome.FAILED:
        return RequestStatus.FAILED
    if outcome == Outcome.CANCELLED:
        return RequestStatus.CANCELLED
    # started, progress, or an earlier stage of a chain completing: work is under way.
    return RequestStatus.RUNNING


def forward(current: RequestStatus, requested: RequestStatus) -> RequestStatus:
    if current.is_terminal or _RANK[requested] <= _RANK[current]:
        return current
    return requested


def _declared_by_the_hub(row: CatalogRow) -> bool:
    """Whether the row's final status came from the sweeper's `request.failed`."""
    became = next((entry for entry in reversed(row.history) if entry.status != row.status), None)
    index = row.history.index(became) + 1 if became else 0
    return index < len(row.history) and row.history[index].event_type == REQUEST_FAILED


def _after_the_end(row: CatalogRow, event: HubEvent, requested: RequestStatus) -> tuple[bool, str | None]:
    """For a row already final: whether `event` replaces its status, and the note its entry keeps."""
    if requested.is_terminal and event.event_type != REQUEST_FAILED and _declared_by_the_hub(row):
        return True, f"the pipeline's own outcome replaces the hub's {row.status.value} (redriven work)"
    if event.event_type == REQUEST_FAILED or (requested.is_terminal and requested != row.status):
        return False, f"arrived after the request ended {row.status.value}: recorded here only"
    return False, None


def apply_event(row: CatalogRow | None, event: HubEvent, parts: StoredParts, now: str) -> CatalogRow | None:
    """The row after `event`, or None when the event changes nothing (a duplicate delivery)."""
    if row is not None and row.subject != event.subject:
        raise ForeignEvent(f"event {event.event_id} for request {event.request_id} names another caller")
    if row is not None and row.seen(event.event_id):
        return None

    requested = status_for(event)
    if row is None:
        row = CatalogRow(
            request_id=event.request_id,
            subject=event.subject,
            pipeline=event.pipeline,
            status=requested,
            updated_at=now,
        )
        status = requested
    else:
        status = forward(row.status, requested)
    superseded, note = _after_the_end(row, event, requested) if row.status.is_terminal else (False, None)
    if superseded:
        status = requested

    changes: dict[str, object] = {
        "status": status,
        "updated_at": now,
        "version": row.version + 1,
        "history": [
            *row.history,
            HistoryEntry(
                event_id=event.event_id,
                event_type=event.event_type,
                occurred_at=event.occurred_at.isoformat(),
                status=status,
                note=note,
            ),
        ],
    }
    if superseded:
        changes["error"] = None
    if event.event_type == REQUEST_ACCEPTED:
        changes["created_at"] = event.occurred_at.isoformat()
        changes["input"] = parts.input
        changes["stages"] = list(parts.stages)
    elif event.outcome == Outcome.COMPLETED and parts.output is not None:
        changes["stage_outputs"] = {**row.stage_outputs, event.stage: parts.output}
        if status == RequestStatus.SUCCEEDED and row.result is None:
            changes["result"] = parts.output
    elif (
        event.outcome == Outcome.FAILED
        and status == RequestStatus.FAILED
        and (row.error is None or superseded)
    ):
        changes["error"] = parts.output
    elif event.outcome == Outcome.PROGRESS and parts.output is not None:
        occurred_at = event.occurred_at.isoformat()
        if row.progress_at is None or occurred_at >= row.progress_at:
            changes["progress"] = parts.output
            changes["progress_at"] = occurred_at
    return row.model_copy(update=changes)


def succeeded_by(row: CatalogRow, event_id: str) -> bool:
    """Whether `event_id` is the event that moved the row to SUCCEEDED (the first to do so)."""
    for entry in row.history:
        if entry.status == RequestStatus.SUCCEEDED:
            return entry.event_id == event_id
    return False
