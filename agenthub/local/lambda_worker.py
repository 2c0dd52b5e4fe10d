"""One Lambda execution environment: a process that imports a handler once and serves invocations.

Started by the function host with exactly the function's environment. It speaks JSON lines:
invocations arrive on stdin, results leave on the original stdout; whatever the handler prints
(logs included) goes to stderr, which the host collects as the function's log stream. Each
invocation's lines sit between Lambda's own `START RequestId:` and `REPORT RequestId:` lines, as
in CloudWatch Logs, so the host can hand an invocation its own log (`LogType: Tail`).

This is a child-process entry point: `python -m agenthub.local.lambda_worker <module.handler>`.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import resource
import sys
import time
import traceback
from pathlib import Path
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


def _peak_memory_mb() -> int:
    """The process's peak resident memory. Linux's VmHWM, as ru_maxrss keeps the peak of the process
    that started this one (it survives exec); elsewhere ru_maxrss, which is in bytes on macOS."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return math.ceil(int(line.split()[1]) / 1024)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return math.ceil(peak / (1024 * 1024 if sys.platform == "darwin" else 1024))


def _report(request_id: str, duration_ms: float, init_ms: float | None) -> str:
    """Lambda's REPORT line, which ends an invocation's log."""
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    used = _peak_memory_mb()
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {memory} MB\tMax Memory Used: {used} MB"
    )
    return line + (f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else "")


def serve(handler_path: str, requests: IO[str], replies: IO[str]) -> None:
    started = time.perf_counter()
    try:
        handler, init_error = _load(handler_path), None
    except Exception as error:  # reported on every invocation, as Lambda does
        handler, init_error = (
            None,
            {**_error(error), "errorType": f"Runtime.ImportModuleError: {type(error).__name__}"},
        )
    init_ms: float | None = (time.perf_counter() - started) * 1000
    replies.write(json.dumps({"ready": True, "init_ms": round(init_ms or 0, 1)}) + "\n")
    replies.flush()
    for line in requests:
        invocation = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = invocation["trace_id"]
        request_id = invocation["request_id"]
        print(f"START RequestId: {request_id} Version: $LATEST", file=sys.stderr, flush=True)
        invoked = time.perf_counter()
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
        # The REPORT line goes out before the reply: the host waits for it to hand the invocation its log.
        print(f"END RequestId: {request_id}", file=sys.stderr)
        report = _report(request_id, (time.perf_counter() - invoked) * 1000, init_ms)
        print(report, file=sys.stderr, flush=True)
        init_ms = None  # Lambda reports the init duration once, with the first invocation
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
