"""One Lambda execution environment: a process that imports a handler once and serves invocations.

Started by the function host with exactly the function's environment. It speaks JSON lines:
invocations arrive on stdin, results leave on the original stdout; whatever the handler prints
(logs included) goes to stderr, which the host collects as the function's log stream.

This is a child-process entry point: `python -m agenthub.local.lambda_worker <module.handler>`.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import IO, Any


class LambdaContext:
    """The context object Lambda hands a Python handler."""

    def __init__(self, request_id: str, deadline: float) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ["AGENTHUB_FUNCTION_ARN"]
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _error(error: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": "",
        "stackTrace": traceback.format_exception(error)[1:],
    }


def _load(handler_path: str) -> Any:
    module_name, _, function_name = handler_path.rpartition(".")
    return getattr(importlib.import_module(module_name), function_name)


def serve(handler_path: str, requests: IO[str], replies: IO[str]) -> None:
    started = time.perf_counter()
    try:
        handler, init_error = _load(handler_path), None
    except Exception as error:  # reported on every invocation, as Lambda does
        handler, init_error = (
            None,
            {**_error(error), "errorType": f"Runtime.ImportModuleError: {type(error).__name__}"},
        )
    replies.write(
        json.dumps({"ready": True, "init_ms": round((time.perf_counter() - started) * 1000, 1)}) + "\n"
    )
    replies.flush()
    for line in requests:
        invocation = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = invocation["trace_id"]
        reply: dict[str, Any] = {"id": invocation["id"]}
        if init_error is not None:
            reply["error"] = init_error
        else:
            context = LambdaContext(invocation["request_id"], invocation["deadline"])
            try:
                result = handler(json.loads(invocation["payload"]), context)
                reply["payload"] = json.dumps(result)
            except Exception as error:  # the handler's error is the invocation's result
                reply["error"] = {**_error(error), "requestId": invocation["request_id"]}
                print(json.dumps({"level": "ERROR", **reply["error"]}), file=sys.stderr)
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main() -> None:
    handler_path = sys.argv[1]
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # handler output is log output
    sys.stdout = sys.stderr
    serve(handler_path, sys.stdin, replies)


if __name__ == "__main__":
    main()
