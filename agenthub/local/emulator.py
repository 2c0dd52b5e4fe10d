"""The AWS emulator on loopback: moto in server mode, with the local cloud's own parts in front.

One endpoint serves every service, as `AWS_ENDPOINT_URL` expects. Most requests go straight to
moto. Three kinds are answered here instead, because moto cannot run them:

- Lambda Invoke: handed to the function host (moto would need Docker);
- Bedrock runtime, Bedrock customization jobs and SageMaker training jobs: the stand-ins;
- SQS StartMessageMoveTask / ListMessageMoveTasks (dead-letter queue redrive), which moto lacks;
- Lambda List/GetEventSourceMapping: the SQS event sources the local pollers serve;
- a user pool's JWKS: the local cloud's own signing key (`agenthub.local.signing`), not moto's;
- S3 POST uploads (presigned POSTs): their policy is enforced first (`agenthub.local.uploads`);
- `/_agenthub/...`: the local cloud's control API (fault rules, health, an
  invocation with its whole log for `agenthub local invoke`), and the endpoints the local cloud
  adds to it (`controls`): what is still pending (`/_agenthub/activity`, for `--follow`) and the
  local API's stage throttle (`/_agenthub/throttle`).

moto's Step Functions interpreter calls services back at `localhost:$MOTO_PORT`, so executions
reach the same endpoint and their Lambda and Bedrock tasks are served the same way.

Every request that can change the emulator's state passes a `Gate`, which holds it still while
`agenthub.local.persistence` saves it.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, unquote

import requests
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from agenthub.local import LOCAL_ACCESS_KEY, local_client, moto_adapter, uploads
from agenthub.local.deploy import EventSourceSpec
from agenthub.local.functions import FunctionHost, FunctionNotFound, InjectedFault, Throttled
from agenthub.local.standins import StandIns, _signing_service

# One line per request from every server on loopback would drown what the local cloud reports.
logging.getLogger("werkzeug").setLevel(logging.WARNING)
_MOVE_TASK_TARGETS = ("AmazonSQS.StartMessageMoveTask", "AmazonSQS.ListMessageMoveTasks")
_START_EXECUTION = "AWSStepFunctions.StartExecution"
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_MAPPINGS_PATH = re.compile(r"^/2015-03-31/event-source-mappings/?([^/]*)$")
LOG_TAIL_BYTES = 4096
_JWKS_PATH = re.compile(r"^/[\w-]+_[0-9A-Za-z]+/\.well-known/jwks\.json$")
WsgiApp = Callable[[dict[str, Any], Any], Any]
# A control endpoint the local cloud adds: (method, query, body) -> (status, headers, body).
Control = Callable[[str, dict[str, list[str]], bytes], tuple[int, dict[str, str], bytes]]


class PortInUse(RuntimeError):
    pass


def bind(host: str, port: int, app: Any) -> BaseWSGIServer:
    # werkzeug prints and exits the process on a busy port; check first to raise a clear error.
    if port:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                raise PortInUse(
                    f"port {port} on {host} is already in use; choose another with --port"
                ) from error
    return make_server(host, port, app, threaded=True)


def _aws_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"Type": "User", "message": message, "__type": code}).encode()
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code}, body


class Gate:
    """Lets requests through to the emulator's state, or holds that state still while it is saved.

    Saving pickles moto's backends, which must not change meanwhile: `hold()` waits (up to a time)
    for the requests under way to finish and makes new ones wait; `open()` lets them through again,
    or answers them 503 from then on when the local cloud is stopping (the saved state is what
    the next start sees, so nothing after it may count).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._passing = 0
        self._held = False
        self._refusing = False

    @contextmanager
    def passage(self) -> Iterator[bool]:
        """Yields False when the request must be refused instead."""
        with self._changed:
            self._changed.wait_for(lambda: not self._held or self._refusing)
            if self._refusing:
                yield False
                return
            self._passing += 1
        try:
            yield True
        finally:
            with self._changed:
                self._passing -= 1
                self._changed.notify_all()

    def hold(self, timeout: float) -> bool:
        """True once no request is under way; False if some still were after `timeout` seconds."""
        with self._changed:
            self._held = True
            return self._changed.wait_for(lambda: self._passing == 0, timeout)

    def open(self, refuse: bool = False) -> None:
        with self._changed:
            self._held = False
            self._refusing = refuse
            self._changed.notify_all()


class Emulator:
    def __init__(self, region: str, account_id: str, host: str = "127.0.0.1", port: int = 0) -> None:
        moto_adapter.install()
        self.region = region
        self.account_id = account_id
        self._moto = DomainDispatcherApplication(create_backend_app)
        self.functions: FunctionHost | None = None
        self.event_sources: list[EventSourceSpec] = []
        # The user pools' JWKS (every pool of a local cloud signs with its one key); None: moto's.
        self.jwks: dict[str, Any] | None = None
        self._server = bind(host, port, self)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.standins = StandIns(region, account_id, lambda: self.client("s3"))
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._move_tasks: list[dict[str, Any]] = []
        self._started_at = time.time()
        self._previous_moto_port: str | None = None
        # Every request that may change state passes it; Lambda invocations (which run for as long
        # as their handler, and whose own AWS calls pass it) do not.
        self.gate = Gate()
        # StartExecution calls by (state machine, execution name). moto, like a Standard workflow,
        # answers a repeated start with the execution it has; AWS starts an Express workflow again,
        # so a count above one for an Express one is an execution the hub would have run twice.
        self.execution_starts: Counter[tuple[str, str]] = Counter()
        self._starts_lock = threading.Lock()
        # Control endpoints by path, added by the local cloud. They read the local cloud rather than
        # change moto's state, and one may wait (a long poll), so they do not pass the gate.
        self.controls: dict[str, Control] = {}

    def client(self, service: str) -> Any:
        return local_client(service, self.region, self.url)

    def start(self, execute_state_machines: bool = True) -> None:
        """Serves on loopback. Without `execute_state_machines` an execution only records its start
        (what the bench wants when it measures one function at a time)."""
        # The Step Functions interpreter inside moto calls services at localhost:$MOTO_PORT.
        self._previous_moto_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(self.port)
        self._thread.start()
        if execute_state_machines:
            response = requests.post(
                f"{self.url}/moto-api/config",
                json={"stepfunctions": {"execute_state_machine": True}},
                timeout=10,
            )
            response.raise_for_status()

    def add_middleware(self, middleware: Callable[[WsgiApp], WsgiApp]) -> None:
        """Puts a WSGI middleware in front of everything the emulator serves (the bench counts
        every AWS request this way)."""
        self._server.app = middleware(self._server.app)

    def stop(self) -> None:
        if os.environ.get("MOTO_PORT") == str(self.port):
            if self._previous_moto_port is None:
                os.environ.pop("MOTO_PORT", None)
            else:
                os.environ["MOTO_PORT"] = self._previous_moto_port
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- WSGI -------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if "CONTENT_TYPE" in environ:
            headers["content-type"] = environ["CONTENT_TYPE"]
        control = self.controls.get(path)
        if control is not None:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            query = parse_qs(environ.get("QUERY_STRING", ""))
            return self._respond(start_response, control(environ.get("REQUEST_METHOD", "GET"), query, body))
        if _INVOKE_PATH.match(path) or path == "/_agenthub/invoke":
            return self._serve(environ, start_response, path, headers)
        with self.gate.passage() as allowed:
            if not allowed:
                status, response_headers, payload = _aws_error(
                    503, "ServiceUnavailable", "the local cloud is stopping"
                )
                start_response(f"{status} {_REASONS[status]}", list(response_headers.items()))
                return [payload]
            return self._serve(environ, start_response, path, headers)

    def _serve(self, environ: dict[str, Any], start_response: Any, path: str, headers: dict[str, str]) -> Any:
        target = headers.get("x-amz-target", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if target == _START_EXECUTION:
            self._count_start(environ)
        bucket = uploads.upload_bucket(method, path, headers.get("content-type", ""))
        if bucket is not None:
            return self._upload(environ, start_response, bucket, headers.get("content-type", ""))
        ours = (
            path.startswith("/_agenthub/")
            or target in _MOVE_TASK_TARGETS
            or _INVOKE_PATH.match(path)
            or _MAPPINGS_PATH.match(path)
            or (self.jwks is not None and _JWKS_PATH.match(path))
            or headers.get("x-amz-target", "").startswith("SageMaker.")
            or _signing_service(headers.get("authorization", "")) in ("bedrock", "eks")
        )
        if not ours:
            return self._moto(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if _MAPPINGS_PATH.match(path) and method == "GET":
            answer: tuple[int, dict[str, str], bytes] | None = self._mappings(
                path, parse_qs(environ.get("QUERY_STRING", ""))
            )
        else:
            answer = self._answer(method, path, headers, body)
        if answer is None:
            environ["wsgi.input"] = io.BytesIO(body)
            return self._moto(environ, start_response)
        return self._respond(start_response, answer)

    @staticmethod
    def _respond(start_response: Any, answer: tuple[int, dict[str, str], bytes]) -> list[bytes]:
        status, response_headers, payload = answer
        # Every AWS response names its request; botocore reads it into ResponseMetadata.
        response_headers = {"x-amzn-RequestId": str(uuid.uuid4()), **response_headers}
        start_response(
            f"{status} {_REASONS.get(status, 'OK')}",
            [*response_headers.items(), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    def _upload(self, environ: dict[str, Any], start_response: Any, bucket: str, content_type: str) -> Any:
        """A POST upload: refused here as S3 would refuse it, or handed to moto to store."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        # The local cloud's clients and functions all sign with the one local key pair.
        refused = uploads.refusal(bucket, body, content_type, {LOCAL_ACCESS_KEY: LOCAL_ACCESS_KEY})
        if refused is not None:
            return self._respond(start_response, refused)
        environ["wsgi.input"] = io.BytesIO(body)
        return self._moto(environ, start_response)

    def _count_start(self, environ: dict[str, Any]) -> None:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            start = json.loads(body)
            key = (str(start["stateMachineArn"]), str(start.get("name", "")))
        except (ValueError, KeyError, TypeError):
            return  # moto answers it as the malformed request it is
        with self._starts_lock:
            self.execution_starts[key] += 1

    def _mappings(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        """ListEventSourceMappings and GetEventSourceMapping, as Lambda answers them."""
        json_headers = {"Content-Type": "application/json"}
        mappings: list[dict[str, Any]] = []
        for spec in self.event_sources:
            try:
                function_arn = self.functions.pool(spec.function_name).spec.arn if self.functions else ""
            except FunctionNotFound:
                function_arn = spec.function_name
            mappings.append(
                {
                    "UUID": spec.uuid,
                    "EventSourceArn": spec.queue_arn,
                    "FunctionArn": function_arn,
                    "BatchSize": spec.batch_size,
                    "MaximumBatchingWindowInSeconds": spec.batching_window_seconds,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"]
                    if spec.report_batch_item_failures
                    else [],
                    "State": "Enabled" if spec.enabled else "Disabled",
                    **(
                        {"ScalingConfig": {"MaximumConcurrency": spec.maximum_concurrency}}
                        if spec.maximum_concurrency
                        else {}
                    ),
                    "StateTransitionReason": "USER_INITIATED",
                    "LastModified": self._started_at,
                }
            )
        wanted = _MAPPINGS_PATH.match(path)
        if wanted and wanted.group(1):
            found = next((mapping for mapping in mappings if mapping["UUID"] == wanted.group(1)), None)
            if found is None:
                return _aws_error(
                    404, "ResourceNotFoundException", f"no event source mapping {wanted.group(1)}"
                )
            return 200, json_headers, json.dumps(found).encode()
        for name, key in (("FunctionName", "FunctionArn"), ("EventSourceArn", "EventSourceArn")):
            if name in query:
                value = query[name][0]
                mappings = [m for m in mappings if value in (m[key], m[key].rsplit(":", 1)[-1])]
        return 200, json_headers, json.dumps({"EventSourceMappings": mappings}).encode()

    def invoke_fault(self, function_name: str, payload: bytes) -> InjectedFault | None:
        """The fault rule (operation "Invoke") that applies to this invocation, if any."""
        rule = self.standins.rule_for("Invoke", payload.decode(errors="replace"), function_name)
        return InjectedFault(rule.error, rule.message, rule.after_effect) if rule and rule.error else None

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        if path.startswith("/_agenthub/"):
            return self._control(method, path, body)
        if self.jwks is not None and _JWKS_PATH.match(path):
            return 200, {"Content-Type": "application/json"}, json.dumps(self.jwks).encode()
        invoke = _INVOKE_PATH.match(path)
        if invoke and method == "POST":
            return self._invoke(unquote(invoke.group(1)), headers, body)
        target = headers.get("x-amz-target", "")
        if target in _MOVE_TASK_TARGETS:
            request = json.loads(body or b"{}")
            if target.endswith("ListMessageMoveTasks"):
                tasks = [task for task in self._move_tasks if task["SourceArn"] == request.get("SourceArn")]
                return (
                    200,
                    {"Content-Type": "application/x-amz-json-1.0"},
                    json.dumps({"Results": tasks}).encode(),
                )
            return self._move_messages(request)
        return self.standins.handle(method, path, headers, body)

    def _invoke(
        self, function: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        if self.functions is None:
            return None
        invocation_type = headers.get("x-amz-invocation-type", "RequestResponse")
        try:
            self.functions.pool(function)  # a function the stack does not have is a 404
            if invocation_type == "DryRun":
                return 204, {}, b""
            if invocation_type == "Event":
                self.functions.invoke_async(function, body)
                return 202, {}, b""
            result = self.functions.invoke(function, body)
        except FunctionNotFound:
            return _aws_error(404, "ResourceNotFoundException", f"Function not found: {function}")
        except Throttled as error:
            return _aws_error(429, "TooManyRequestsException", str(error))
        response_headers = {
            "Content-Type": "application/json",
            "X-Amz-Executed-Version": "$LATEST",
            "x-amzn-RequestId": result.request_id or str(uuid.uuid4()),
        }
        if result.function_error:
            response_headers["X-Amz-Function-Error"] = result.function_error
        if headers.get("x-amz-log-type") == "Tail":
            # As Lambda answers LogType=Tail: the last 4 KB of the invocation's log, base64-encoded.
            tail = result.log.encode()[-LOG_TAIL_BYTES:]
            response_headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        return 200, response_headers, result.payload

    def _invoke_with_log(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """`POST /_agenthub/invoke`, for `agenthub local invoke`: Lambda's Invoke with the invocation's
        whole log (Invoke's LogType=Tail keeps only 4 KB) and, optionally, template variables
        overridden for this one invocation (`--env-vars`)."""
        json_headers = {"Content-Type": "application/json"}
        if self.functions is None:
            return 503, json_headers, b'{"message": "the local cloud is starting"}'
        try:
            request = json.loads(body)
            function, payload = str(request["function"]), str(request["payload"]).encode()
            overrides = {str(name): str(value) for name, value in (request.get("environment") or {}).items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            return 400, json_headers, json.dumps({"message": f"not an invocation: {error}"}).encode()
        try:
            # As sam local invoke: only the variables the template declares for the function.
            declared = self.functions.pool(function).spec.environment
            ignored = sorted(set(overrides) - set(declared))
            overrides = {name: value for name, value in overrides.items() if name in declared}
            result = self.functions.invoke(function, payload, overrides or None)
        except FunctionNotFound:
            return 404, json_headers, json.dumps({"message": f"Function not found: {function}"}).encode()
        except Throttled as error:
            return 429, json_headers, json.dumps({"message": str(error)}).encode()
        except ValueError as error:
            return 400, json_headers, json.dumps({"message": str(error)}).encode()
        answer = {
            "request_id": result.request_id,
            "payload": result.payload.decode(errors="replace"),
            "function_error": result.function_error,
            "duration_ms": round(result.duration_ms, 2),
            "log": result.log,
            "ignored_variables": ignored,
        }
        return 200, json_headers, json.dumps(answer).encode()

    def _move_messages(self, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        """Redrives a dead-letter queue: every message back to its source queue (or DestinationArn)."""
        sqs = self.client("sqs")
        source_arn = request.get("SourceArn", "")
        try:
            source = sqs.get_queue_url(QueueName=source_arn.rsplit(":", 1)[-1])["QueueUrl"]
            destinations = (
                [sqs.get_queue_url(QueueName=request["DestinationArn"].rsplit(":", 1)[-1])["QueueUrl"]]
                if request.get("DestinationArn")
                else sqs.list_dead_letter_source_queues(QueueUrl=source).get("queueUrls", [])
            )
        except sqs.exceptions.QueueDoesNotExist:
            return _aws_error(400, "ResourceNotFoundException", f"no queue {source_arn}")
        if len(destinations) != 1:
            return _aws_error(
                400, "InvalidParameterValueException", "name a DestinationArn: the DLQ has several sources"
            )
        moved = 0
        while batch := sqs.receive_message(
            QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=60, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for message in batch:
                attributes = message.get("MessageAttributes") or {}
                sqs.send_message(
                    QueueUrl=destinations[0], MessageBody=message["Body"], MessageAttributes=attributes
                )
                sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
                moved += 1
        handle = str(uuid.uuid4())
        destination_arn = sqs.get_queue_attributes(QueueUrl=destinations[0], AttributeNames=["QueueArn"])
        self._move_tasks.append(
            {
                "TaskHandle": handle,
                "Status": "COMPLETED",
                "SourceArn": source_arn,
                "DestinationArn": destination_arn["Attributes"]["QueueArn"],
                "ApproximateNumberOfMessagesMoved": moved,
                "ApproximateNumberOfMessagesToMove": moved,
                "StartedTimestamp": int(time.time() * 1000),
            }
        )
        return (
            200,
            {"Content-Type": "application/x-amz-json-1.0"},
            json.dumps({"TaskHandle": handle}).encode(),
        )

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        json_headers = {"Content-Type": "application/json"}
        if path == "/_agenthub/health":
            return 200, json_headers, b'{"status": "ok"}'
        if path == "/_agenthub/invoke" and method == "POST":
            return self._invoke_with_log(body)
        if path.startswith("/_agenthub/k8s/"):
            return self.standins.kubernetes(method, path, body)
        if path == "/_agenthub/faults":
            if method == "POST":
                try:
                    rule = self.standins.add_rule(json.loads(body))
                except (TypeError, ValueError) as error:
                    return 400, json_headers, json.dumps({"message": f"not a fault rule: {error}"}).encode()
                return 201, json_headers, json.dumps(vars(rule)).encode()
            if method == "DELETE":
                self.standins.clear_rules()
                return 204, {}, b""
            return 200, json_headers, json.dumps(self.standins.rules()).encode()
        return 404, json_headers, b'{"message": "no such control endpoint"}'


_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    424: "Failed Dependency",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
