"""Core writer: applies hub events to the catalog, the data lake and the agents' memory.

Fed by a filtered hub subscription through SQS. Each message is applied idempotently (the
catalog row remembers the event ids it has seen) and failures are reported per message, so one
poison message goes to the DLQ after its retries while the rest of the batch is kept.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from contracts.catalog import RegisteredTool
from contracts.events import REQUEST_ACCEPTED, TOOL_REGISTERED, TOOL_WITHDRAWN, Outcome, Stage, stage_event
from contracts.tools import ToolSpec
from core.store import AgentMemory, Catalog, DataLake
from core.transitions import StoredParts, apply_event, succeeded_by
from shared import aws
from shared.config import LakeSettings, load_settings
from shared.hub import HubEvent, load_payload
from shared.observability import logger, metrics
from shared.subscriber import hub_subscriber

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MAX_WRITE_ATTEMPTS = 8
RACE_BACKOFF_SECONDS = 0.02
_LAKE_FOLDERS = {
    Outcome.COMPLETED.value: "results",
    Outcome.FAILED.value: "errors",
    Outcome.PROGRESS.value: "progress",
}


class CoreWriterSettings(LakeSettings):
    CATALOG_TABLE: str
    AGENT_MEMORY_TABLE: str
    INLINE_VALUE_MAX_BYTES: int = Field(default=4096, ge=0, le=200_000)
    MEMORY_TTL_DAYS: int = Field(default=30, gt=0)


class CatalogWriteConflict(RuntimeError):
    """Other writers kept winning the race for the same row; the message will be retried."""


class CoreWriter:
    def __init__(self, catalog: Catalog, lake: DataLake, memory: AgentMemory, s3: S3Client) -> None:
        self._catalog = catalog
        self._lake = lake
        self._memory = memory
        self._s3 = s3

    @classmethod
    def from_environment(cls) -> CoreWriter:
        settings = load_settings(CoreWriterSettings)
        dynamodb = aws.dynamodb()
        return cls(
            Catalog(settings.CATALOG_TABLE, dynamodb),
            DataLake(settings.DATA_LAKE_BUCKET, aws.s3(), settings.INLINE_VALUE_MAX_BYTES),
            AgentMemory(settings.AGENT_MEMORY_TABLE, dynamodb, settings.MEMORY_TTL_DAYS * 86_400),
            aws.s3(),
        )

    def apply(self, event: HubEvent) -> None:
        payload = load_payload(event, self._s3)
        if event.event_type in (TOOL_REGISTERED, TOOL_WITHDRAWN):
            self._change_registry(event, payload)
            return
        # What goes to the lake first, idempotently: the row never links an object that is not there.
        parts = self._store_parts(event, payload)
        for attempt in range(MAX_WRITE_ATTEMPTS):
            row = self._catalog.get(event.request_id)
            updated = apply_event(row, event, parts, now=datetime.now(UTC).isoformat())
            if updated is None:
                logger.info("duplicate event ignored", extra={"event_id": event.event_id})
                metrics.add_metric(name="DuplicateEventsIgnored", unit=MetricUnit.Count, value=1)
                if row is not None and succeeded_by(row, event.event_id):
                    # The write won before, but the effects may not have happened (a crash between).
                    self._after_success(event, payload)
                return
            if self._catalog.save(updated, previous_version=row.version if row else None):
                metrics.add_metric(name="EventsApplied", unit=MetricUnit.Count, value=1)
                logger.info(
                    "catalog updated",
                    extra={
                        "request_id": event.request_id,
                        "event_type": event.event_type,
                        "status": updated.status,
                    },
                )
                if succeeded_by(updated, event.event_id):
                    self._after_success(event, payload)
                return
            # Another event of the same request won the race: read again after a jittered pause.
            time.sleep(random.uniform(0, RACE_BACKOFF_SECONDS * 2**attempt))  # noqa: S311 - jitter, not a secret  # nosec B311
        raise CatalogWriteConflict(f"request {event.request_id}: {MAX_WRITE_ATTEMPTS} lost write races")

    def _change_registry(self, event: HubEvent, payload: dict[str, Any]) -> None:
        tool = RegisteredTool(
            spec=ToolSpec.model_validate(payload["spec"]),
            stack=str(payload.get("stack", "")),
            changed_at=event.occurred_at.isoformat(),
            withdrawn=event.event_type == TOOL_WITHDRAWN,
        )
        applied = self._catalog.save_tool(tool)
        logger.info(
            "tool registry changed" if applied else "stale registry event ignored",
            extra={"tool": tool.spec.name, "withdrawn": tool.withdrawn},
        )

    def _after_success(self, event: HubEvent, payload: dict[str, Any]) -> None:
        """What only the event that succeeds a request does, once its write has won: a cancelled or
        failed request's late answer stays in its history, nowhere else. Both effects are idempotent
        (keyed by request), so a redelivery that repeats them changes nothing. A reader may see
        SUCCEEDED a moment before the session's memory has the turn."""
        self._remember_turn(event, payload)
        self._register_model(event, payload)

    def _store_parts(self, event: HubEvent, payload: dict[str, Any]) -> StoredParts:
        if event.event_type == REQUEST_ACCEPTED:
            return StoredParts(
                input=self._lake.store(f"requests/{event.request_id}/input.json", payload.get("input")),
                stages=tuple(payload.get("stages") or (event.pipeline,)),
            )
        folder = _LAKE_FOLDERS.get(event.outcome)
        if folder is None or not payload:
            return StoredParts()
        return StoredParts(
            output=self._lake.store(f"{folder}/{event.request_id}/{event.stage}.json", payload)
        )

    def _register_model(self, event: HubEvent, result: dict[str, Any]) -> None:
        if event.event_type != stage_event(Stage.CUSTOMIZATION, Outcome.COMPLETED) or "model" not in result:
            return
        self._catalog.register_model(
            event.subject, event.request_id, result["model"], event.occurred_at.isoformat()
        )

    def _remember_turn(self, event: HubEvent, turn: dict[str, Any]) -> None:
        answers = (stage_event(Stage.INVOKE, Outcome.COMPLETED), stage_event(Stage.AGENT, Outcome.COMPLETED))
        if event.event_type not in answers or not turn.get("session_id"):
            return
        self._memory.append_turn(
            subject=event.subject,
            session_id=turn["session_id"],
            request_id=event.request_id,
            occurred_at=event.occurred_at.isoformat(),
            epoch_seconds=int(event.occurred_at.timestamp()),
            user_text=turn.get("prompt", ""),
            assistant_text=turn.get("output_text", ""),
            model_id=turn.get("model_id", ""),
        )


@cache
def writer() -> CoreWriter:
    return CoreWriter.from_environment()


lambda_handler = hub_subscriber(lambda event: writer().apply(event))
