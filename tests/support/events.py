"""The one way tests load the sample events in events/ (the same files `sam local invoke -e` takes)."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from agenthub import PROJECT_ROOT

EVENTS = PROJECT_ROOT / "events"


@cache
def _read(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of events/<name>, safe to modify."""
    return copy.deepcopy(_read(name))


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
