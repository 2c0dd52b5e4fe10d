"""What the front door answers about a request: its own view, built from whichever record it has.

The catalog row (the core writer's) once the core has caught up, the front door's acceptance
record before that. Callers see the same shape either way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.catalog import CatalogRow
from contracts.requests import RequestStatus
from front_door.records import AcceptedRequest

# An object named anywhere in a result or error, as the pipelines record it (s3://bucket/key).
_LAKE_URI = re.compile(r"s3://[^\s'\"]+")
WITHHELD = "(an object in the data lake)"


def handed_over(value: Any, readable: Callable[[str], bool], presign: Callable[[str], str]) -> Any:
    """`value` as the caller may see it: no bucket path in it.

    A value that is one of the caller's objects becomes a presigned URL (a `ref` key becomes `url`);
    any other lake path, or one inside a sentence, is withheld (docs/reliability.md #33).
    """
    if isinstance(value, str):
        if _LAKE_URI.fullmatch(value) and readable(value):
            return presign(value)
        return _LAKE_URI.sub(WITHHELD, value)
    if isinstance(value, list):
        return [handed_over(item, readable, presign) for item in value]
    if isinstance(value, dict):
        return {
            ("url" if name == "ref" and _lake_uri(item) and readable(item) else name): handed_over(
                item, readable, presign
            )
            for name, item in value.items()
        }
    return value


def _lake_uri(value: Any) -> bool:
    return isinstance(value, str) and _LAKE_URI.fullmatch(value) is not None


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
    def of_catalog(
        cls, row: CatalogRow, presign: Callable[[str], str], readable: Callable[[str], bool]
    ) -> RequestView:
        """`readable` says whether an s3:// URI is the caller's to read (and so to presign)."""
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
            result=handed_over(row.result.decoded(), readable, presign) if row.result else None,
            error=handed_over(row.error.decoded(), readable, presign) if row.error else None,
            progress=handed_over(row.progress.decoded(), readable, presign) if row.progress else None,
            history=[
                {
                    "event_type": entry.event_type,
                    "status": entry.status.value,
                    "occurred_at": entry.occurred_at,
                    **({"note": entry.note} if entry.note else {}),
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
