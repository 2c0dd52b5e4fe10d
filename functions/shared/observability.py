"""One logger, tracer and metrics object per function, configured by the POWERTOOLS_* variables."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

if TYPE_CHECKING:
    from aws_lambda_powertools.logging.types import LogRecord

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


# The same on every line of a function's log group, which already names the function: left out of
# each line, as CloudWatch Logs bills by the byte ingested.
_CONSTANT_KEYS = ("function_name", "function_arn", "function_memory_size")


class _Formatter(LambdaPowertoolsFormatter):
    def serialize(self, log: LogRecord) -> str:
        for key in _CONSTANT_KEYS:
            log.pop(key, None)  # type: ignore[misc]
        return super().serialize(log)


logger = Logger(logger_formatter=_Formatter())
tracer = _tracer()
metrics = Metrics()

__all__ = ["logger", "metrics", "tracer"]
