"""The AWS emulator on loopback: moto in server mode, with the local cloud's own parts in front.

One endpoint serves every service, as `AWS_ENDPOINT_URL` expects. Most requests go straight to
moto. Three kinds are answered here instead, because moto cannot run them:

- Lambda Invoke: handed to the function host (moto would need Docker);
- Bedrock runtime, Bedrock customization jobs and SageMaker training jobs: the stand-ins;
- SQS StartMessageMoveTask / ListMessageMoveTasks (dead-letter queue redrive), which moto lacks;
- Lambda List/GetEventSourceMapping: the SQS event sources the local pollers serve;
- `/_agenthub/...`: the local cloud's control API (fault rules, health).

moto's Step Functions interpreter calls services back at `localhost:$MOTO_PORT`, so executions
reach the same endpoint and their Lambda and Bedrock tasks are served the same way.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

import requests
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from agenthub.local import local_client, moto_adapter
from agenthub.local.deploy import EventSourceSpec
from agenthub.local.functions import FunctionHost, FunctionNotFound, InjectedFault, Throttled
from agenthub.local.standins import StandIns, _signing_service

# One line per request from every server on loopback would drown what the local cloud reports.
logging.getLogger("werkzeug").setLevel(logging.WARNING)
_MOVE_TASK_TARGETS = ("AmazonSQS.StartMessageMoveTask", "AmazonSQS.ListMessageMoveTasks")
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_MAPPINGS_PATH = re.compile(r"^/2015-03-31/event-source-mappings/?([^/]*)$")
WsgiApp = Callable[[dict[str, Any], Any], Any]


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


class Emulator:
    def __init__(self, region: str, account_id: str, host: str = "127.0.0.1", port: int = 0) -> None:
        moto_adapter.install()
        self.region = region
        self.account_id = account_id
        self._moto = DomainDispatcherApplication(create_backend_app)
        self.functions: FunctionHost | None = None
        self.event_sources: list[EventSourceSpec] = []
        self._server = bind(host, port, self)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.standins = StandIns(region, account_id, lambda: self.client("s3"))
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._move_tasks: list[dict[str, Any]] = []
        self._started_at = time.time()
        self._previous_moto_port: str | None = None

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
        target = headers.get("x-amz-target", "")
        ours = (
            path.startswith("/_agenthub/")
            or target in _MOVE_TASK_TARGETS
            or _INVOKE_PATH.match(path)
            or _MAPPINGS_PATH.match(path)
            or headers.get("x-amz-target", "").startswith("SageMaker.")
            or _signing_service(headers.get("authorization", "")) == "bedrock"
        )
        if not ours:
            return self._moto(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        method = environ.get("REQUEST_METHOD", "GET")
        if _MAPPINGS_PATH.match(path) and method == "GET":
            answer: tuple[int, dict[str, str], bytes] | None = self._mappings(
                path, parse_qs(environ.get("QUERY_STRING", ""))
            )
        else:
            answer = self._answer(method, path, headers, body)
        if answer is None:
            environ["wsgi.input"] = io.BytesIO(body)
            return self._moto(environ, start_response)
        status, response_headers, payload = answer
        # Every AWS response names its request; botocore reads it into ResponseMetadata.
        response_headers = {"x-amzn-RequestId": str(uuid.uuid4()), **response_headers}
        start_response(
            f"{status} {_REASONS.get(status, 'OK')}",
            [*response_headers.items(), ("Content-Length", str(len(payload)))],
        )
        return [payload]

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
        return InjectedFault(rule.error, rule.message) if rule and rule.error else None

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        if path.startswith("/_agenthub/"):
            return self._control(method, path, body)
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
        response_headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if result.function_error:
            response_headers["X-Amz-Function-Error"] = result.function_error
        return 200, response_headers, result.payload

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
    408: "Request Timeout",
    409: "Conflict",
    424: "Failed Dependency",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
