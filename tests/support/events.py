"""The one way tests load the sample events in events/ (the same files `sam local invoke -e` takes).

The events name the stack's resources as `${LogicalId}` (see agenthub/local/sample_events.py): give
`load_event` the deployed stack and they name its resources.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import TYPE_CHECKING, Any

from agenthub import PROJECT_ROOT
from agenthub.local.sample_events import Names, resolve

if TYPE_CHECKING:
    from agenthub.local.stack import Stack

EVENTS = PROJECT_ROOT / "events"


@cache
def _read(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def load_event(name: str, stack: Stack | None = None) -> dict[str, Any]:
    """A fresh copy of events/<name>, safe to modify; with `stack`, its `${...}` names resolved."""
    event = copy.deepcopy(_read(name))
    if stack is None:
        return event
    resolved: dict[str, Any] = resolve(event, Names.of_stack(stack))
    return resolved


def api_event(
    name: str,
    *,
    body: Any = None,
    headers: dict[str, str | None] | None = None,
    subject: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A sample API event with its body, headers (None removes one), caller or path changed."""
    event = load_event(name)
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    for header, value in (headers or {}).items():
        for field in ("headers", "multiValueHeaders"):
            event[field].pop(header, None)
            if value is not None:
                event[field][header] = value if field == "headers" else [value]
    if subject is not None:
        event["requestContext"]["authorizer"]["claims"]["sub"] = subject
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
        event["path"] = event["resource"].format(**path_parameters)
    return event


def hub_delivery(
    *events: Any, queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:subscriber"
) -> dict[str, Any]:
    """The SQS event a hub subscriber's function receives for these hub events (raw delivery off)."""
    from agenthub.local.pollers import lambda_sqs_event

    messages = [
        {
            "MessageId": event.event_id,
            "ReceiptHandle": f"handle-{event.event_id}",
            "Body": json.dumps(
                {
                    "Type": "Notification",
                    "MessageId": event.event_id,
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:hub",
                    "Message": event.model_dump_json(),
                }
            ),
            "Attributes": {"ApproximateReceiveCount": "1"},
        }
        for event in events
    ]
    return lambda_sqs_event(messages, queue_arn, "us-east-1")
