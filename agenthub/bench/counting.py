"""Counts what a request makes the local cloud do, from the local cloud itself.

- AWS requests: a WSGI middleware in front of the emulator classifies every request it serves
  (service from the SigV4 credential scope, operation from the target header, the query action or
  the REST method). That includes the calls Step Functions makes for its tasks, which reach the
  emulator the same way. The bench's own look-ups carry a user agent marker and are left out.
- SNS-to-SQS deliveries happen inside moto, not over HTTP: counted where moto hands a
  subscription's message to a queue.
- Lambda invocations and their durations: from the function host's pools.
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote

BENCH_USER_AGENT = "agenthub-bench"
WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
# Services whose operation travels as Action=... in the query string or a form body.
_QUERY_PROTOCOL = {"sns", "sqs", "sts", "iam"}
_S3_OPERATIONS = {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}
DYNAMODB_WRITE_UNIT_BYTES = 1024
DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
DYNAMODB_READS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")


def classify(method: str, path: str, headers: dict[str, str], query: str, body: bytes) -> tuple[str, str]:
    """(service, operation) of one AWS request as botocore sends it."""
    match = _SCOPE.search(headers.get("authorization", ""))
    service = match.group(1) if match else "unsigned"
    target = headers.get("x-amz-target", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    if service in _QUERY_PROTOCOL:
        fields = parse_qs(query) or parse_qs(body.decode(errors="replace"))
        return service, fields.get("Action", ["?"])[0]
    if service == "s3":
        operation = _S3_OPERATIONS.get(method, f"{method}Object")
        if method == "GET" and path.count("/") <= 1:
            operation = "ListObjects"
        return service, operation
    if service == "lambda" and path.endswith("/invocations"):
        return service, "Invoke"
    return service, f"{method} {path.split('/', 2)[1] if '/' in path else path}"


def dynamodb_write_units(operation: str, body: bytes) -> int:
    """Write units of a write request: an item's size in 1 KB steps (its JSON size, a slight
    overestimate of DynamoDB's own measure); 1 for an update, whose new size the request does not show."""
    if operation != "PutItem":
        return 1
    item = json.loads(body or b"{}").get("Item", {})
    size = len(json.dumps(item, separators=(",", ":")).encode())
    return max(1, math.ceil(size / DYNAMODB_WRITE_UNIT_BYTES))


class RequestCounter:
    """Counts every AWS request the emulator serves, by (service, operation)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.invoked: Counter[str] = Counter()  # Lambda Invoke requests (Step Functions' tasks) by function

    def snapshot(self) -> tuple[Counter[str], Counter[str]]:
        with self._lock:
            return Counter(self.requests), Counter(self.invoked)

    def _add(self, *names: str, amount: int = 1) -> None:
        with self._lock:
            for name in names:
                self.requests[name] += amount

    def _invoked(self, function: str) -> None:
        with self._lock:
            self.invoked[function.rsplit(":function:", 1)[-1].split(":", maxsplit=1)[0]] += 1

    def middleware(self, app: WsgiApp) -> WsgiApp:
        def counted(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            if BENCH_USER_AGENT in environ.get("HTTP_USER_AGENT", ""):
                return app(environ, start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            headers = {
                "authorization": environ.get("HTTP_AUTHORIZATION", ""),
                "x-amz-target": environ.get("HTTP_X_AMZ_TARGET", ""),
            }
            service, operation = classify(
                environ.get("REQUEST_METHOD", "GET"),
                environ.get("PATH_INFO", ""),
                headers,
                environ.get("QUERY_STRING", ""),
                body,
            )
            if service == "dynamodb" and operation in DYNAMODB_WRITES:
                self._add("dynamodb.write_units", amount=dynamodb_write_units(operation, body))
            if (service, operation) == ("lambda", "Invoke"):
                self._invoked(unquote(environ.get("PATH_INFO", "").split("/")[-2]))
            if (service, operation) != ("sqs", "ReceiveMessage"):
                self._add(f"{service}.{operation}")
                return app(environ, start_response)
            # An empty receive is the pollers idling, a cost per queue and not per request.
            answer = b"".join(app(environ, start_response))
            received = bool(json.loads(answer or b"{}").get("Messages")) if answer.startswith(b"{") else True
            self._add("sqs.ReceiveMessage" if received else "sqs.ReceiveMessage.empty")
            return [answer]

        return counted


class SnsDeliveryCounter:
    """Counts messages moto's SNS hands to SQS queues (in-process, so no request shows them)."""

    def __init__(self) -> None:
        self.deliveries = 0
        self._lock = threading.Lock()
        self._inside = threading.local()

    def install(self) -> None:
        from moto.sns.models import Subscription
        from moto.sqs.models import SQSBackend

        counter = self
        publish, send = Subscription.publish, SQSBackend.send_message

        def publishing(subscription: Any, *args: Any, **kwargs: Any) -> Any:
            counter._inside.active = True
            try:
                return publish(subscription, *args, **kwargs)
            finally:
                counter._inside.active = False

        def sending(backend: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(counter._inside, "active", False):
                with counter._lock:
                    counter.deliveries += 1
            return send(backend, *args, **kwargs)

        Subscription.publish = publishing  # type: ignore[method-assign,assignment]
        SQSBackend.send_message = sending  # type: ignore[method-assign,assignment]
