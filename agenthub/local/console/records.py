"""What the console shows, made from what the emulator holds. Pure: no I/O.

The catalog's request rows are written by the core writer (`functions/contracts/catalog.py` defines
them). The console reads them loosely, as a user reading the table would: the key attributes,
then the JSON `body`, taking what it finds, so a row of an older or newer shape still shows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from agenthub.local.console.graph import event_details

REQUEST_PREFIX = "REQUEST#"
MODEL_PREFIX = "MODEL#"
# The tool registry: one partition, a row per tool (functions/contracts/catalog.py).
TOOLS_PARTITION = "TOOLS"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
SUMMARY_CHARACTERS = 180
VALUE_CHARACTERS = 60


class LakeUnreadable(RuntimeError):
    """A value the catalog links in the data lake is not there, or is not JSON."""


def plain(value: Any) -> Any:
    """A deserialized DynamoDB value with numbers as int or float (boto3 gives Decimal)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    return value


def parse_time(text: Any) -> datetime | None:
    if isinstance(text, datetime):
        return text
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize(value: Any, limit: int = SUMMARY_CHARACTERS) -> str:
    """One line that says what a JSON value holds: its scalar fields, and the size of the rest."""
    if value is None:
        return ""
    if isinstance(value, dict):
        if isinstance(value.get("error"), str) and "cause" in value:
            return clip(f"{value['error']}: {value.get('cause') or ''}", limit)
        parts = []
        for key, item in value.items():
            if item is None:
                continue
            if isinstance(item, dict):
                shown = "{" + ", ".join(list(item)[:4]) + ("…}" if len(item) > 4 else "}")
            elif isinstance(item, list):
                shown = f"[{len(item)} item{'s' if len(item) != 1 else ''}]"
            elif isinstance(item, str):
                shown = repr(clip(item, VALUE_CHARACTERS))
            else:
                shown = json.dumps(item)
            parts.append(f"{key}: {shown}")
        return clip(", ".join(parts), limit)
    if isinstance(value, list):
        return f"[{len(value)} items]"
    return clip(str(value), limit)


@dataclass
class Stored:
    """A value the catalog keeps inline, or in the data lake under `ref`."""

    value: Any = None
    ref: str | None = None
    problem: str | None = None  # why the lake object could not be read

    @property
    def summary(self) -> str:
        if self.problem:
            return self.problem
        return summarize(self.value)

    @property
    def pretty(self) -> str:
        return json.dumps(self.value, indent=2, ensure_ascii=False, default=str)


def stored(raw: Any, load: Callable[[str], Any]) -> Stored | None:
    """A `{"inline": "<json>", "ref": "s3://..."}` value, read from the lake when it is there."""
    if not isinstance(raw, dict):
        return None
    if raw.get("inline") is not None:
        try:
            return Stored(json.loads(raw["inline"]))
        except (TypeError, ValueError):
            return Stored(raw["inline"])
    ref = raw.get("ref")
    if isinstance(ref, str):
        try:
            return Stored(load(ref), ref)
        except LakeUnreadable as error:
            # Shown where the value would be: the rest of the request is still worth seeing.
            return Stored(None, ref, str(error))
    return None


@dataclass
class TimelineEntry:
    event_id: str
    event_type: str
    occurred_at: datetime | None
    status: str
    offset_seconds: float | None
    stored: Stored | None = None  # what the catalog keeps of this event's payload
    stored_as: str = ""  # which part of the row that is: input, result, error, progress
    applied_late: bool = False  # the core writer applied it after an event that happened later

    @property
    def outcome(self) -> str:
        return self.event_type.rsplit(".", 1)[-1]


@dataclass
class RequestSummary:
    request_id: str
    subject: str
    pipeline: str
    status: str
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def duration_seconds(self) -> float | None:
        if self.status not in TERMINAL or not self.created_at or not self.updated_at:
            return None
        return (self.updated_at - self.created_at).total_seconds()

    @property
    def sort_key(self) -> str:
        moment = self.created_at or self.updated_at
        return moment.isoformat() if moment else ""


def request_summary(item: dict[str, Any]) -> RequestSummary:
    pk = str(item.get("pk", ""))
    return RequestSummary(
        request_id=str(item.get("request_id") or pk.removeprefix(REQUEST_PREFIX)),
        subject=str(item.get("subject", "")),
        pipeline=str(item.get("pipeline", "")),
        status=str(item.get("status", "")),
        created_at=parse_time(item.get("created_at")),
        updated_at=parse_time(item.get("updated_at")),
    )


@dataclass
class RequestView:
    summary: RequestSummary
    stages: list[str]
    version: int | None
    input: Stored | None
    result: Stored | None
    error: Stored | None
    progress: Stored | None
    stage_outputs: dict[str, Stored]
    timeline: list[TimelineEntry]
    refs: list[str] = field(default_factory=list)  # every s3:// address the row's values name


def _s3_refs(value: Any, found: list[str]) -> None:
    if isinstance(value, str) and value.startswith("s3://") and value not in found:
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _s3_refs(item, found)
    elif isinstance(value, list):
        for item in value:
            _s3_refs(item, found)


def request_view(item: dict[str, Any], load: Callable[[str], Any]) -> RequestView:
    """The request row as the console shows it; `load` reads an `s3://` address from the lake."""
    summary = request_summary(item)
    try:
        body: dict[str, Any] = json.loads(item.get("body") or "{}")
    except ValueError:
        body = {}
    summary.created_at = summary.created_at or parse_time(body.get("created_at"))
    values = {name: stored(body.get(name), load) for name in ("input", "result", "error", "progress")}
    stage_outputs = {
        str(stage): value
        for stage, raw in (body.get("stage_outputs") or {}).items()
        if (value := stored(raw, load)) is not None
    }
    history = [entry for entry in body.get("history") or [] if isinstance(entry, dict)]
    latest_progress = max(
        (
            str(entry.get("occurred_at"))
            for entry in history
            if str(entry.get("event_type", "")).endswith(".progress")
        ),
        default=None,
    )
    error_shown = False
    timeline = []
    latest_applied: datetime | None = None
    # The row lists events in the order the core writer applied them, which is not always the
    # order they happened in (a redelivery, a redrive): shown in time order, the late ones marked.
    for entry in history:
        event_type = str(entry.get("event_type", ""))
        occurred_at = parse_time(entry.get("occurred_at"))
        line = TimelineEntry(
            event_id=str(entry.get("event_id", "")),
            event_type=event_type,
            occurred_at=occurred_at,
            status=str(entry.get("status", "")),
            offset_seconds=None,
            applied_late=bool(occurred_at and latest_applied and occurred_at < latest_applied),
        )
        if occurred_at and (latest_applied is None or occurred_at > latest_applied):
            latest_applied = occurred_at
        stage, _, outcome = event_type.rpartition(".")
        # The row keeps the payloads it needs, not every event's: the input, each stage's result,
        # the error that failed the request, and the latest progress.
        if event_type == "request.accepted":
            line.stored, line.stored_as = values["input"], "input"
        elif outcome == "completed" and stage in stage_outputs:
            line.stored, line.stored_as = stage_outputs[stage], "result"
        elif outcome == "failed" and values["error"] is not None and not error_shown:
            line.stored, line.stored_as = values["error"], "error"
            error_shown = True
        elif outcome == "progress" and str(entry.get("occurred_at")) == latest_progress:
            line.stored, line.stored_as = values["progress"], "latest progress"
        timeline.append(line)
    timeline.sort(key=lambda line: line.occurred_at.timestamp() if line.occurred_at else 0.0)
    start = next((line.occurred_at for line in timeline if line.occurred_at), None)
    for line in timeline:
        if line.occurred_at and start:
            line.offset_seconds = (line.occurred_at - start).total_seconds()
    refs: list[str] = []
    for value in [*values.values(), *stage_outputs.values()]:
        if value is not None:
            if value.ref:
                refs.append(value.ref)
            _s3_refs(value.value, refs)
    version = body.get("version", item.get("version"))
    return RequestView(
        summary=summary,
        stages=[str(stage) for stage in body.get("stages") or []],
        version=int(version) if isinstance(version, int | float | str) and str(version).isdigit() else None,
        input=values["input"],
        result=values["result"],
        error=values["error"],
        progress=values["progress"],
        stage_outputs=stage_outputs,
        timeline=timeline,
        refs=refs,
    )


def decode_json_strings(item: dict[str, Any]) -> dict[str, Any]:
    """A catalog item with every attribute that holds a JSON object or list decoded."""
    decoded: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                decoded[key] = json.loads(value)
                continue
            except ValueError:
                pass
        decoded[key] = value
    return decoded


@dataclass
class ModelVersion:
    name: str
    subject: str
    request_id: str
    registered_at: datetime | None
    model: dict[str, Any]


def model_versions(items: list[dict[str, Any]]) -> list[ModelVersion]:
    """`MODEL#<caller>#<name>` rows, one per job that produced that name, newest first."""
    versions = []
    for item in items:
        pk = str(item.get("pk", ""))
        subject, _, name = pk.removeprefix(MODEL_PREFIX).partition("#")
        model = decode_json_strings(item).get("model")
        versions.append(
            ModelVersion(
                name=name or str((model or {}).get("name", "")),
                subject=str(item.get("subject") or subject),
                request_id=str(
                    item.get("request_id") or str(item.get("sk", "")).removeprefix(REQUEST_PREFIX)
                ),
                registered_at=parse_time(item.get("created_at")),
                model=model if isinstance(model, dict) else {},
            )
        )
    return sorted(
        versions,
        key=lambda version: version.registered_at.isoformat() if version.registered_at else "",
        reverse=True,
    )


@dataclass
class RegisteredTool:
    """A registry row: the tool's spec, the stack that registered it, and whether it still is."""

    name: str
    description: str
    input_schema: dict[str, Any]
    stack: str
    changed_at: str
    withdrawn: bool


def registered_tools(items: list[dict[str, Any]]) -> list[RegisteredTool]:
    tools = []
    for item in items:
        body = json.loads(str(item.get("body") or "{}"))
        spec = body.get("spec") or {}
        tools.append(
            RegisteredTool(
                name=str(spec.get("name", item.get("sk", ""))),
                description=str(spec.get("description", "")),
                input_schema=dict(spec.get("input_schema") or {}),
                stack=str(body.get("stack", "")),
                changed_at=str(body.get("changed_at", "")),
                withdrawn=bool(body.get("withdrawn", False)),
            )
        )
    return sorted(tools, key=lambda tool: (tool.withdrawn, tool.name))


@dataclass
class HistoryRow:
    """One event of an execution's history, for the table under its graph."""

    id: int
    type: str
    offset_seconds: float | None
    state: str  # the state the event belongs to
    summary: str
    details: str  # the event's details as JSON, for a closer look
    failure: bool
    retry: bool


def _details_text(details: dict[str, Any]) -> str:
    shown: dict[str, Any] = {}
    for key, value in details.items():
        # Inputs, outputs and parameters are JSON in a string: show them as JSON.
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                shown[key] = json.loads(value)
                continue
            except ValueError:
                pass
        shown[key] = value
    return json.dumps(shown, indent=2, ensure_ascii=False, default=str)


def _target(details: dict[str, Any]) -> str:
    """The function a Lambda task calls, from the task's parameters."""
    try:
        parameters = json.loads(details.get("parameters") or "{}")
    except ValueError:
        return ""
    function = parameters.get("FunctionName") if isinstance(parameters, dict) else None
    return f" → {str(function).rsplit(':', 1)[-1]}" if function else ""


def history_rows(events: list[dict[str, Any]]) -> list[HistoryRow]:
    rows = []
    start = parse_time(events[0].get("timestamp")) if events else None
    state = ""
    pending_failure = False
    for event in events:
        kind = str(event.get("type", ""))
        details = event_details(event)
        if kind.endswith("StateEntered"):
            state = str(details.get("name", ""))
        failure = "error" in details or kind.endswith(("Failed", "TimedOut", "Aborted"))
        retry = pending_failure and kind.endswith("Scheduled")
        if failure:
            summary = f"{details.get('error', kind)}: {details.get('cause', '')}".rstrip(": ")
        elif kind.endswith("Scheduled") and "resource" in details:
            summary = f"{details.get('resourceType', '')}:{details['resource']}{_target(details)}"
        else:
            summary = ""  # entered and exited name their state in the state column
        moment = parse_time(event.get("timestamp"))
        rows.append(
            HistoryRow(
                id=int(event.get("id", 0)),
                type=kind,
                offset_seconds=(moment - start).total_seconds() if moment and start else None,
                state=state if not kind.startswith("Execution") else "",
                summary=clip(summary, 240),
                details=_details_text(details),
                failure=failure,
                retry=retry,
            )
        )
        pending_failure = failure or (pending_failure and not kind.endswith(("Scheduled", "StateExited")))
        if kind.endswith("StateExited"):
            state = ""
    return rows
