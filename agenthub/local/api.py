"""The local API: the template's REST API served on 127.0.0.1 the way API Gateway serves it.

Built from the translated API definition (the OpenAPI body SAM generates from the functions' Api
events), so routes, the Cognito authorizer and its scopes, request validators, models, gateway
responses and stage throttling all come from the template. Requests reach the integration
function as API Gateway's Lambda proxy event, with the token's claims (as strings) under
`requestContext.authorizer.claims`. The user pool's OAuth2 endpoints are served beside it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
from werkzeug.wrappers import Request, Response

from agenthub.local.activity import CHANGES, Changes
from agenthub.local.cognito import AuthError, LocalCognito, parse_form
from agenthub.local.deploy import RestApiSpec, StageSpec
from agenthub.local.functions import FunctionHost, FunctionNotFound, Throttled

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
_DEFAULT_STATUS = {
    "UNAUTHORIZED": 401,
    "ACCESS_DENIED": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "BAD_REQUEST_PARAMETERS": 400,
    "BAD_REQUEST_BODY": 400,
    "REQUEST_TOO_LARGE": 413,
    "THROTTLED": 429,
    "INTEGRATION_FAILURE": 502,
    "API_CONFIGURATION_ERROR": 500,
    # The local cloud's own: API Gateway never stops, but a local cloud does, under a client's feet.
    "LOCAL_CLOUD_STOPPING": 503,
}
# What a call in flight while the local cloud stops is told: come back (to the next local cloud).
STOPPING_RETRY_AFTER_SECONDS = "1"


@dataclass
class Route:
    path: str
    method: str
    pattern: re.Pattern[str]
    function_arn: str
    authorizer: str | None
    scopes: list[str]
    required_headers: list[str]
    required_query: list[str]
    validate_body: bool
    validate_parameters: bool
    body_schema: dict[str, Any] | None


@dataclass
class TokenBucket:
    """The stage throttle: `burst` calls at once, refilled at `rate` a second.

    `hold()` stops the refill until `release()` (and `refill()` fills it now), so a test can send a
    burst and know what the bucket holds, however slowly a loaded machine delivers the calls
    (`POST /_agenthub/throttle`)."""

    rate: float
    burst: int
    tokens: float = 0.0
    clock: Callable[[], float] = time.monotonic
    updated: float = 0.0
    held: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.updated = self.clock()

    def _refill_until_now(self) -> None:
        now = self.clock()
        if not self.held:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self) -> bool:
        with self.lock:
            self._refill_until_now()
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True

    def refill(self) -> None:
        with self.lock:
            self.tokens = float(self.burst)
            self.updated = self.clock()

    def hold(self) -> None:
        with self.lock:
            self._refill_until_now()
            self.held = True

    def release(self) -> None:
        with self.lock:
            self._refill_until_now()
            self.held = False

    def state(self) -> dict[str, Any]:
        with self.lock:
            self._refill_until_now()
            return {"rate": self.rate, "burst": self.burst, "tokens": self.tokens, "held": self.held}


class GatewayError(Exception):
    def __init__(self, response_type: str, message: str, validation: str = "") -> None:
        super().__init__(message)
        self.response_type = response_type
        self.message = message
        self.validation = validation


def _resolve_ref(body: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = body
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return dict(node)


def compile_routes(api: RestApiSpec) -> list[Route]:
    body = api.body
    validators = body.get("x-amazon-apigateway-request-validators", {})
    default_validator = body.get("x-amazon-apigateway-request-validator")
    schemes = body.get("components", {}).get("securitySchemes", body.get("securityDefinitions", {}))
    routes = []
    for path, methods in body.get("paths", {}).items():
        regex = re.sub(r"\{([^}+]+)\+\}", r"(?P<\1>.+)", path)
        regex = re.sub(r"\{([^}]+)\}", r"(?P<\1>[^/]+)", regex)
        for method, operation in methods.items():
            integration = operation.get("x-amazon-apigateway-integration", {})
            uri = str(integration.get("uri", ""))
            match = re.search(r"functions/(arn:[^/]+)/invocations", uri)
            if not match:
                raise ValueError(
                    f"{method.upper()} {path}: only Lambda proxy integrations are served locally"
                )
            security = (operation.get("security") or [{}])[0]
            authorizer = next(iter(security), None)
            if (
                authorizer
                and schemes.get(authorizer, {}).get("x-amazon-apigateway-authtype") != "cognito_user_pools"
            ):
                raise ValueError(
                    f"{method.upper()} {path}: only Cognito user pool authorizers are served locally"
                )
            validator = validators.get(
                operation.get("x-amazon-apigateway-request-validator", default_validator), {}
            )
            parameters = operation.get("parameters", [])
            schema_ref = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
                .get("$ref")
            )
            routes.append(
                Route(
                    path=path,
                    method=method.upper(),
                    pattern=re.compile(f"^{regex}$"),
                    function_arn=match.group(1),
                    authorizer=authorizer,
                    scopes=list(security.get(authorizer, [])) if authorizer else [],
                    required_headers=[
                        p["name"] for p in parameters if p.get("in") == "header" and p.get("required")
                    ],
                    required_query=[
                        p["name"] for p in parameters if p.get("in") == "query" and p.get("required")
                    ],
                    validate_body=bool(validator.get("validateRequestBody")),
                    validate_parameters=bool(validator.get("validateRequestParameters")),
                    body_schema=_resolve_ref(body, schema_ref) if schema_ref else None,
                )
            )
    return routes


def authorizer_pool(api: RestApiSpec, authorizer: str) -> str:
    schemes = api.body.get("components", {}).get("securitySchemes", api.body.get("securityDefinitions", {}))
    (arn,) = schemes[authorizer]["x-amazon-apigateway-authorizer"]["providerARNs"]
    return str(arn).rsplit("/", 1)[-1]


class LocalApi:
    """A WSGI application serving one REST API's stage, plus the user pool's OAuth2 endpoints."""

    def __init__(
        self,
        api: RestApiSpec,
        stage: StageSpec,
        functions: FunctionHost,
        cognito: LocalCognito,
        region: str,
        account_id: str,
        access_log: Path | None = None,
        changes: Changes = CHANGES,
    ) -> None:
        self.api = api
        self._changes = changes
        self.stage = stage
        self._routes = compile_routes(api)
        self._functions = functions
        self.cognito = cognito
        self._region = region
        self._account_id = account_id
        self.throttle = (
            TokenBucket(stage.throttle_rate, stage.throttle_burst)
            if stage.throttle_rate is not None and stage.throttle_burst is not None
            else None
        )
        self._access_log = access_log.open("a", encoding="utf-8") if access_log else None
        self._log_lock = threading.Lock()
        self._stopping = threading.Event()
        self._in_flight = 0
        self._idle = threading.Condition()

    def begin_stopping(self) -> None:
        """From now on every API call, and every call whose function is cut short, is answered 503
        with Retry-After: the caller's retry is what a client of a stopping service should do, where
        429 would blame its rate and 502 the function."""
        self._stopping.set()

    def wait_idle(self, timeout: float) -> bool:
        """Waits until no API call is in flight (their answers written); False if `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.perf_counter()
        context: dict[str, Any] = {
            "requestId": str(uuid.uuid4()),
            "claims": {},
            "resourcePath": "",
            "error": "",
        }
        if request.path.startswith("/oauth2/") or request.path == "/login":
            return self._oauth(request)(environ, start_response)
        with self._idle:
            self._in_flight += 1
        self._changes.bump()
        try:
            try:
                response = self._serve(request, context)
            except GatewayError as error:
                context["error"] = error.message
                response = self._gateway_response(error)
            self._log_access(request, response, context, started)
            return response(environ, start_response)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()
            self._changes.bump()

    @property
    def calls_in_flight(self) -> int:
        with self._idle:
            return self._in_flight

    # -- OAuth2 endpoints ---------------------------------------------------------------------

    def _oauth(self, request: Request) -> Response:
        try:
            if request.path == "/oauth2/authorize" and request.method == "GET":
                return Response(self.cognito.login_page(dict(request.args)), content_type="text/html")
            if request.path == "/login" and request.method == "POST":
                return Response(
                    status=302, headers={"Location": self.cognito.login(parse_form(request.get_data()))}
                )
            if request.path == "/oauth2/token" and request.method == "POST":
                body = self.cognito.token(
                    parse_form(request.get_data()), request.headers.get("Authorization")
                )
                return Response(json.dumps(body), content_type="application/json")
        except AuthError as error:
            return Response(
                json.dumps({"error": error.oauth_error, "error_description": str(error)}),
                status=error.status,
                content_type="application/json",
            )
        return Response(json.dumps({"error": "not_found"}), status=404, content_type="application/json")

    # -- the API ------------------------------------------------------------------------------

    def _serve(self, request: Request, context: dict[str, Any]) -> Response:
        self._refuse_if_stopping()
        prefix = f"/{self.stage.name}"
        if not request.path.startswith(prefix + "/"):
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        path = request.path[len(prefix) :]
        route, parameters = self._match(request.method, path)
        context["resourcePath"] = route.path
        if self.throttle is not None and not self.throttle.take():
            raise GatewayError("THROTTLED", "Too Many Requests")
        claims = self._authorize(route, request)
        context["claims"] = claims
        body = request.get_data()
        if len(body) > MAX_PAYLOAD_BYTES:
            raise GatewayError("REQUEST_TOO_LARGE", "Request Too Long")
        self._validate(route, request, body)
        event = self._proxy_event(request, route, path, parameters, claims, body, context["requestId"])
        try:
            result = self._functions.invoke(route.function_arn, json.dumps(event).encode())
        except Throttled as error:
            # A function host that is stopping refuses new invocations as a throttle.
            self._refuse_if_stopping()
            raise GatewayError("THROTTLED", "Rate Exceeded.") from error
        except FunctionNotFound as error:
            raise GatewayError("API_CONFIGURATION_ERROR", "Internal server error") from error
        if result.function_error:
            # Stopping kills the workers, so an invocation in flight ends as a runtime exit.
            self._refuse_if_stopping()
            raise GatewayError("INTEGRATION_FAILURE", "Internal server error")
        return self._proxy_response(result.payload)

    def _refuse_if_stopping(self) -> None:
        if self._stopping.is_set():
            raise GatewayError("LOCAL_CLOUD_STOPPING", "The local cloud is stopping; retry")

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        for route in self._routes:
            found = route.pattern.match(path)
            if found and route.method in (method, "X-AMAZON-APIGATEWAY-ANY-METHOD"):
                return route, found.groupdict()
        # API Gateway answers an unknown route or method as if it were unauthenticated.
        raise GatewayError("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")

    def _authorize(self, route: Route, request: Request) -> dict[str, str]:
        if route.authorizer is None:
            return {}
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else header.strip()
        if not token:
            raise GatewayError("UNAUTHORIZED", "Unauthorized")
        try:
            claims = self.cognito.verify(token, authorizer_pool(self.api, route.authorizer))
        except AuthError as error:
            raise GatewayError("UNAUTHORIZED", "Unauthorized") from error
        granted = str(claims.get("scope", "")).split()
        if route.scopes and not any(scope in granted for scope in route.scopes):
            raise GatewayError("ACCESS_DENIED", "Forbidden")
        return {name: value if isinstance(value, str) else str(value) for name, value in claims.items()}

    def _validate(self, route: Route, request: Request, body: bytes) -> None:
        if route.validate_parameters:
            missing = [name for name in route.required_headers if name not in request.headers]
            missing += [name for name in route.required_query if name not in request.args]
            if missing:
                raise GatewayError(
                    "BAD_REQUEST_PARAMETERS",
                    "Missing required request parameters",
                    f"Missing required request parameters: [{', '.join(missing)}]",
                )
        if route.validate_body and route.body_schema is not None:
            try:
                document = json.loads(body or b"null")
            # Not JSON, not even UTF-8 text, or nested past Python's recursion limit (which API
            # Gateway's validator refuses like any other unreadable body).
            except (ValueError, RecursionError) as error:
                raise GatewayError(
                    "BAD_REQUEST_BODY", "Invalid request body", "Invalid request body"
                ) from error
            problems = sorted(jsonschema.Draft4Validator(route.body_schema).iter_errors(document), key=str)
            if problems:
                raise GatewayError(
                    "BAD_REQUEST_BODY",
                    "Invalid request body",
                    "[" + ", ".join(p.message for p in problems) + "]",
                )

    def _proxy_event(
        self,
        request: Request,
        route: Route,
        path: str,
        parameters: dict[str, str],
        claims: dict[str, str],
        body: bytes,
        request_id: str,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        # API Gateway sets the scheme the client used; the front door builds absolute links from it.
        for name in [name for name in headers if name.lower() == "x-forwarded-proto"]:
            del headers[name], multi_headers[name]
        headers["X-Forwarded-Proto"] = request.scheme
        multi_headers["X-Forwarded-Proto"] = [request.scheme]
        query = {name: values[-1] for name, values in request.args.lists()} or None
        multi_query = dict(request.args.lists()) or None
        text: str | None
        try:
            text, encoded = (body.decode(), False) if body else (None, False)
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        now = datetime.now(UTC)
        request_context: dict[str, Any] = {
            "resourceId": route.path,
            "resourcePath": route.path,
            "httpMethod": request.method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{self.stage.name}{path}",
            "accountId": self._account_id,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "stage": self.stage.name,
            "domainPrefix": self.api.api_id,
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.user_agent.string,
            },
            "domainName": request.host,
            "apiId": self.api.api_id,
        }
        if route.authorizer:
            request_context["authorizer"] = {"claims": claims}
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": request_context,
            "body": text,
            "isBase64Encoded": encoded,
        }

    @staticmethod
    def _proxy_response(payload: bytes) -> Response:
        try:
            result = json.loads(payload)
            status = int(result["statusCode"])
        except (ValueError, KeyError, TypeError) as error:
            raise GatewayError("INTEGRATION_FAILURE", "Internal server error") from error
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        response = Response(data, status=status)
        response.headers.pop("Content-Type", None)
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = str(value)
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response.headers.pop(name, None)
            for value in values:
                response.headers.add(name, str(value))
        response.headers.setdefault("Content-Type", "application/json")
        return response

    def _gateway_response(self, error: GatewayError) -> Response:
        responses = self.api.body.get("x-amazon-apigateway-gateway-responses", {})
        status = _DEFAULT_STATUS.get(error.response_type, 500)
        default = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
        configured = responses.get(error.response_type) or responses.get(default) or {}
        status = int(configured.get("statusCode", status))
        template = configured.get("responseTemplates", {}).get(
            "application/json", '{"message":$context.error.messageString}'
        )
        body = (
            template.replace("$context.error.messageString", json.dumps(error.message))
            .replace(
                "$context.error.validationErrorString", json.dumps(error.validation or error.message)[1:-1]
            )
            .replace("$context.error.message", json.dumps(error.message)[1:-1])
        )
        response = Response(body, status=status, content_type="application/json")
        response.headers["x-amzn-ErrorType"] = {401: "UnauthorizedException", 403: "ForbiddenException"}.get(
            status, error.response_type
        )
        for name, value in configured.get("responseParameters", {}).items():
            if name.startswith("gatewayresponse.header."):
                response.headers[name[len("gatewayresponse.header.") :]] = str(value).strip("'")
        if error.response_type == "LOCAL_CLOUD_STOPPING":
            response.headers["Retry-After"] = STOPPING_RETRY_AFTER_SECONDS
        return response

    def _log_access(
        self, request: Request, response: Response, context: dict[str, Any], started: float
    ) -> None:
        if self._access_log is None or not self.stage.access_log_format:
            return
        values = {
            "$context.requestId": context["requestId"],
            "$context.identity.sourceIp": request.remote_addr or "",
            "$context.authorizer.claims.sub": context["claims"].get("sub", ""),
            "$context.httpMethod": request.method,
            "$context.resourcePath": context["resourcePath"],
            "$context.status": str(response.status_code),
            "$context.responseLatency": str(round((time.perf_counter() - started) * 1000)),
            "$context.error.message": context["error"],
        }
        line = self.stage.access_log_format
        for name in sorted(values, key=len, reverse=True):
            line = line.replace(name, values[name])
        with self._log_lock:
            self._access_log.write(line + "\n")
            self._access_log.flush()

    def close(self) -> None:
        if self._access_log:
            self._access_log.close()
