"""The hub's event types: what happened to a request, in one vocabulary every microservice shares.

`request.accepted` and `request.cancel_requested` come from the front door; `<stage>.<outcome>` is
announced by the stage that did the work; `request.failed` by the sweeper, for a request the hub
could not carry (its message dead-lettered) or that went silent past its budget; `tool.*` are an
agent's calls to the tool stacks and their answers; `tool_registry.*` the registry's changes.
"""

from __future__ import annotations

from enum import StrEnum

REQUEST_ACCEPTED = "request.accepted"
CANCEL_REQUESTED = "request.cancel_requested"
# The hub gave up on a request (the sweeper says so): FAILED, unless its pipeline still finishes it.
REQUEST_FAILED = "request.failed"
# An agent asks a tool, the tool answers: about a request, but not a step of its pipeline.
TOOL_REQUESTED = "tool.requested"
TOOL_COMPLETED = "tool.completed"
TOOL_FAILED = "tool.failed"
# A tool stack deployed or deleted: the registry's changes, about no request (and no `tool` attribute:
# they are not calls).
TOOL_REGISTERED = "tool_registry.registered"
TOOL_WITHDRAWN = "tool_registry.withdrawn"


class Stage(StrEnum):
    """The first half of a stage event type: the piece of work a pipeline microservice runs."""

    PREPROCESS = "preprocess"
    INVOKE = "invoke"
    CUSTOMIZATION = "customization"
    AGENT = "agent"


class Outcome(StrEnum):
    """The second half of a stage event type: `<stage>.<outcome>`."""

    STARTED = "started"
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


def stage_event(stage: str, outcome: Outcome) -> str:
    return f"{stage}.{outcome.value}"
