"""Names derived from a request id alone, so every retry and redelivery lands on the same thing."""

from __future__ import annotations

import hashlib
import re

EXECUTION_NAME_LIMIT = 80
JOB_NAME_LIMIT = 63
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def execution_name(request_id: str, stage: str) -> str:
    """A valid Step Functions execution name for a request's stage."""
    name = f"{stage}-{request_id}"
    if _UNSAFE.search(name) or len(name) > EXECUTION_NAME_LIMIT:
        digest = hashlib.sha256(request_id.encode()).hexdigest()[:40]
        name = f"{_UNSAFE.sub('-', stage)[:30]}-{digest}"
    return name


def job_name(request_id: str) -> str:
    """A valid Bedrock customization job and SageMaker training job name for a request."""
    return f"agenthub-{request_id}"[:JOB_NAME_LIMIT].rstrip("-")
