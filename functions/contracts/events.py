"""The hub's event types: what happened to a request, in one vocabulary every microservice shares.

`request.accepted` and `request.cancel_requested` come from the front door; everything else is
`<stage>.<outcome>`, announced by the stage that did the work.
"""

from __future__ import annotations

from enum import StrEnum

REQUEST_ACCEPTED = "request.accepted"
CANCEL_REQUESTED = "request.cancel_requested"


class Stage(StrEnum):
    """The first half of a stage event type: the piece of work a pipeline microservice runs."""

    PREPROCESS = "preprocess"
    INVOKE = "invoke"
    CUSTOMIZATION = "customization"


class Outcome(StrEnum):
    """The second half of a stage event type: `<stage>.<outcome>`."""

    STARTED = "started"
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


def stage_event(stage: str, outcome: Outcome) -> str:
    return f"{stage}.{outcome.value}"
