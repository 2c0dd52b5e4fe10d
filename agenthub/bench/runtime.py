"""The measured process: a stand-in for one Lambda execution environment, or for its bare baseline.

Run as `python -m agenthub.bench.runtime <mode> <spec.json>` by the bench, with the function's
environment and working directory. It imports only the standard library before the clock starts,
so what it measures is the handler's own imports, clients and calls (or boto3's, for a baseline).
The handler's output (logs, metrics) goes to stderr, as Lambda sends it to the log stream; the
figures leave on stdout as one JSON line.

Modes:
- `function`: import the handler and run it on one event (a cold start);
- `baseline`: `import boto3`, create the clients, make the same AWS calls bare;
- `record`: run the handler once and write down the AWS calls it made, with their answers;
- `serve-function` / `serve-baseline`: warm invocations, one per line read from stdin, every AWS
  call answered in-process from recorded answers (see `answer_from`).
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Any

Calls = list[dict[str, Any]]


# -- encoding recorded calls (params may hold bytes, answers datetimes) ------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items() if not hasattr(item, "read")}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        if set(value) == {"__datetime__"}:
            return datetime.fromisoformat(value["__datetime__"])
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value


# -- what Lambda hands a handler -------------------------------------------------------------------


class Context:
    """The Lambda context object, from the environment the bench gives the process."""

    def __init__(self, request_id: str, timeout_seconds: float = 900.0) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("AGENTHUB_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = time.time() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _handler(path: str) -> Callable[[Any, Any], Any]:
    module_name, _, function_name = path.rpartition(".")
    handler: Callable[[Any, Any], Any] = getattr(importlib.import_module(module_name), function_name)
    return handler


def _request_ids() -> Iterator[str]:
    import uuid

    while True:
        yield str(uuid.uuid4())


# -- modes ------------------------------------------------------------------------------------------


def cold_function(spec: dict[str, Any]) -> dict[str, float]:
    started = time.perf_counter()
    handler = _handler(spec["handler"])
    imported = time.perf_counter()
    result = handler(spec["event"], Context(spec.get("request_id", "bench-cold-start")))
    finished = time.perf_counter()
    return {
        "total_ms": (finished - started) * 1000,
        "import_ms": (imported - started) * 1000,
        "first_event_ms": (finished - imported) * 1000,
        **outcome(result),
    }


def outcome(result: Any) -> dict[str, float]:
    """What the bench checks of a handler's answer: an API status, or a batch's failed items."""
    if not isinstance(result, dict):
        return {}
    if "statusCode" in result:
        return {"status_code": float(result["statusCode"])}
    return {"failed_items": float(len(result.get("batchItemFailures") or []))}


def _bare_calls(calls: Calls) -> Callable[[], None]:
    """The recorded calls made with plain boto3 clients, one client per service, errors included."""
    import boto3
    from botocore import xform_name
    from botocore.exceptions import ClientError

    clients: dict[str, Any] = {}
    for call in calls:
        if call["service"] not in clients:
            clients[call["service"]] = boto3.client(call["service"])
    methods = [
        (getattr(clients[call["service"]], xform_name(call["operation"])), decode(call["params"]))
        for call in calls
    ]

    def make_calls() -> None:
        for method, params in methods:
            try:
                response = method(**params)
            except ClientError:
                continue  # a conditional write that lost still made its round trip
            body = response.get("Body")
            if hasattr(body, "read"):
                body.read()

    return make_calls


def cold_baseline(spec: dict[str, Any]) -> dict[str, float]:
    started = time.perf_counter()
    import boto3  # noqa: F401 - what is measured

    imported = time.perf_counter()
    _bare_calls(spec["calls"])()
    finished = time.perf_counter()
    return {
        "total_ms": (finished - started) * 1000,
        "import_ms": (imported - started) * 1000,
        "first_event_ms": (finished - imported) * 1000,
    }


def record(spec: dict[str, Any]) -> dict[str, float]:
    """Runs the handler once, writing every AWS call it made (service, operation, params, answer)."""
    import boto3

    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None  # noqa: S101 - set up just above
    calls: Calls = []

    def on_params(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append(
            {
                "service": model.service_model.service_name,
                "operation": model.name,
                "params": _encode(params),  # a copy: later hooks may change params in place
            }
        )

    def on_answer(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        for call in reversed(calls):
            if call["operation"] == model.name and "answer" not in call:
                call["answer"] = json.loads(json.dumps(_encode(parsed), default=str))
                break

    session.events.register("provide-client-params.*.*", on_params)
    session.events.register("after-call.*.*", on_answer)
    result = cold_function(spec)
    with open(spec["record_to"], "w", encoding="utf-8") as out:
        json.dump(calls, out, default=str)
    return result


def answer_from(calls: Calls) -> None:
    """Answers every AWS call of this process in-process, from the recorded answers.

    It is the hook botocore's Stubber uses (`before-call`), registered on boto3's default session
    so that it also answers the clients a handler creates for itself, without reaching into its code.
    """
    import boto3
    from botocore.awsrequest import AWSResponse

    answers = {(call["service"], call["operation"]): decode(call.get("answer", {})) for call in calls}
    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None  # noqa: S101 - set up just above

    def answer(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        parsed = answers[(model.service_model.service_name, model.name)]
        return AWSResponse(None, 200, {}, None), dict(parsed)  # type: ignore[arg-type]

    session.events.register_first("before-call.*.*", answer)  # type: ignore[arg-type]


def _trace_header(sampled: bool) -> str:
    import secrets

    return (
        f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};"
        f"Sampled={1 if sampled else 0}"
    )


def serve(spec: dict[str, Any], commands: IO[str], replies: IO[str]) -> None:
    """Warm invocations on command: each line read runs one, each reply is its duration in us."""
    answer_from(spec["calls"])
    if spec["mode"] == "serve-function":
        handler = _handler(spec["handler"])
        request_ids = _request_ids()
        sampled = bool(spec.get("sampled", True))
        event = spec["event"]
        key_header = spec.get("key_header", "Idempotency-Key")

        def once(sequence: int) -> None:
            # What the runtime does before each invocation: a new trace id in the environment.
            os.environ["_X_AMZN_TRACE_ID"] = _trace_header(sampled)
            headers = {**event["headers"], key_header: f"bench-{sequence}"}
            multi = {**event.get("multiValueHeaders", {}), key_header: [f"bench-{sequence}"]}
            result = handler(
                {**event, "headers": headers, "multiValueHeaders": multi}, Context(next(request_ids))
            )
            if outcome(result).get("status_code", 200) >= 400:
                raise SystemExit(f"the warm invocation answered {result}")

    else:
        make_calls = _bare_calls(spec["calls"])

        def once(sequence: int) -> None:
            make_calls()

    for line in commands:
        sequence = int(line)
        started = time.perf_counter_ns()
        once(sequence)
        elapsed = time.perf_counter_ns() - started
        replies.write(f"{elapsed / 1000:.1f}\n")
        replies.flush()


MODES: dict[str, Callable[[dict[str, Any]], dict[str, float]]] = {
    "function": cold_function,
    "baseline": cold_baseline,
    "record": record,
}


def main() -> None:
    mode, spec_path = sys.argv[1], sys.argv[2]
    with open(spec_path, encoding="utf-8") as source:
        spec = json.load(source)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the handler's output is log output
    sys.stdout = sys.stderr
    if mode.startswith("serve-"):
        serve({**spec, "mode": mode}, sys.stdin, replies)
        return
    replies.write(json.dumps(MODES[mode](spec)) + "\n")
    replies.flush()


if __name__ == "__main__":
    main()
