"""What the front door answers about a request: its own view, built from whichever record it has.

The catalog row (the core writer's) once the core has caught up, the front door's acceptance
record before that. Callers see the same shape either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.catalog import CatalogRow
from contracts.requests import RequestStatus
from front_door.records import AcceptedRequest


@dataclass(frozen=True)
class RequestView:
    request_id: str
    subject: str
    pipeline: str
    status: RequestStatus
    stages: list[str]
    created_at: str | None
    updated_at: str
    result: Any = None
    error: Any = None
    progress: Any = None
    history: list[dict[str, str]] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # result_url / error_url for values in the lake

    @classmethod
    def of_catalog(cls, row: CatalogRow, presign: Callable[[str], str]) -> RequestView:
        links = {
            f"{name}_url": presign(stored.ref)
            for name, stored in (("result", row.result), ("error", row.error))
            if stored is not None and stored.ref is not None
        }
        return cls(
            request_id=row.request_id,
            subject=row.subject,
            pipeline=row.pipeline,
            status=row.status,
            stages=list(row.stages),
            created_at=row.created_at,
            updated_at=row.updated_at,
            result=row.result.decoded() if row.result else None,
            error=row.error.decoded() if row.error else None,
            progress=row.progress.decoded() if row.progress else None,
            history=[
                {
                    "event_type": entry.event_type,
                    "status": entry.status.value,
                    "occurred_at": entry.occurred_at,
                }
                for entry in sorted(row.history, key=lambda entry: entry.occurred_at)
            ],
            links=links,
        )

    @classmethod
    def of_acceptance(cls, accepted: AcceptedRequest) -> RequestView:
        return cls(
            request_id=accepted.request_id,
            subject=accepted.subject,
            pipeline=accepted.pipeline,
            status=RequestStatus.ACCEPTED,
            stages=list(accepted.stages),
            created_at=accepted.accepted_at,
            updated_at=accepted.accepted_at,
        )

    def body(self) -> dict[str, Any]:
        """The answer to GET /v1/requests/{request_id}."""
        return {
            "request_id": self.request_id,
            "pipeline": self.pipeline,
            "status": self.status.value,
            "stages": self.stages,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "result": self.result,
            "error": self.error,
            "progress": self.progress,
            "history": self.history,
            **self.links,
        }
