"""One logger, tracer and metrics object per function, configured by the POWERTOOLS_* variables."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics

AnyCallable = TypeVar("AnyCallable", bound=Callable[..., Any])


class Untraced:
    """What the functions use of Powertools' Tracer, doing nothing. Powertools' own Tracer builds
    the X-Ray SDK's recorder (and its X-Ray client) even when POWERTOOLS_TRACE_DISABLED says it
    will never record; this costs a cold start nothing. Lambda still traces every invocation."""

    def capture_lambda_handler(self, handler: AnyCallable) -> AnyCallable:
        return handler

    def capture_method(self, method: AnyCallable) -> AnyCallable:
        return method


def _tracer() -> Untraced:
    """Powertools' Tracer when it is on (TraceAwsCalls), typed by the part of it used here."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in ("true", "1"):
        return Untraced()
    from aws_lambda_powertools import Tracer

    return cast("Untraced", Tracer())


logger = Logger()
tracer = _tracer()
metrics = Metrics()

__all__ = ["logger", "metrics", "tracer"]
