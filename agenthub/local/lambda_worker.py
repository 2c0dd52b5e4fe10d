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

from agenthub.local.lambda_context import LambdaContext


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
            context = LambdaContext.in_worker(invocation["request_id"], invocation["deadline"])
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
