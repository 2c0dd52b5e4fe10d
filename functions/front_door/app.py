"""Front door: the public REST API. Authenticated by API Gateway's Cognito authorizer before this runs."""

# No `from __future__ import annotations` here: Powertools reads the route signatures' Body/Header
# annotations at runtime.

import json
import re
import uuid
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, ServiceError, UnauthorizedError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from botocore.exceptions import BotoCoreError, ClientError

from contracts.requests import PIPELINES, Pipeline, RequestStatus, SubmitRequest
from front_door.listings import BadCursor, CatalogBusy
from front_door.requests import (
    FrontDoorSettings,
    InvalidRequest,
    RequestAlreadyFinished,
    RequestNotFound,
    RequestService,
)
from shared.aws import error_code, worth_retrying
from shared.config import load_settings
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
REQUEST_ID_PATTERN = r"^[A-Za-z0-9-]{1,64}$"
RETRY_AFTER_SECONDS = "2"
# Far deeper than any request model nests, far shallower than Python's recursion limit.
MAX_JSON_DEPTH = 32
WRITE_SCOPE = "hub/requests.write"
READ_SCOPE = "hub/requests.read"
# What the front door counts when it cannot answer (namespace AgentHub, dimension service=front-door):
# a dependency that may answer a retry (503), one that refused a call no retry mends (500: this
# stack's permissions, resources or calls are wrong), and a fault of the front door itself (500).
DEPENDENCY_UNAVAILABLE = "DependencyUnavailable"
DEPENDENCY_MISCONFIGURED = "DependencyMisconfigured"
UNEXPECTED_ERRORS = "UnexpectedErrors"
INTERNAL_ERROR_MESSAGE = (
    "the request failed because of a fault in this service, not in the request; "
    "quote the error_id when reporting it"
)

app = APIGatewayRestResolver(enable_validation=True)


def unknown_query_parameters() -> list[dict[str, str]]:
    """The query parameters of this call that its route does not take, each named, as a request
    body's unknown fields are: a misspelt filter (`?stauts=FAILED`) is refused, never ignored."""
    event = app.current_event
    given = {*(event.query_string_parameters or {}), *(event.multi_value_query_string_parameters or {})}
    # The route's declared `Query()` parameters, as Powertools' validation middleware reads them
    # (aws_lambda_powertools/event_handler/middlewares/openapi_validation.py), so the list is the one
    # the OpenAPI document shows.
    route = app.context.get("_route")
    known = sorted(field.alias for field in route.dependant.query_params) if route else []
    takes = f"this route takes {', '.join(known)}" if known else "this route takes no query parameters"
    return [
        {"field": name, "problem": f"is not a query parameter of this route; {takes}"}
        for name in sorted(given - set(known))
    ]


def _refuse_unknown_query_parameters(
    resolver: APIGatewayRestResolver, next_middleware: NextMiddleware
) -> Response[Any]:
    # Runs after Powertools' validation; a call that also fails it hears of both (`_invalid_request`).
    problems = unknown_query_parameters()
    if problems:
        return error_response(400, "the request is invalid", problems)
    return next_middleware(resolver)


app.use(middlewares=[_refuse_unknown_query_parameters])


@cache
def service() -> RequestService:
    return RequestService.from_environment(load_settings(FrontDoorSettings))


def error_body(
    message: str, errors: list[dict[str, str]] | None = None, error_id: str | None = None
) -> dict[str, Any]:
    """Every error the front door answers: `{"message", "errors": [{"field", "problem"}]}`, and for
    a fault of its own `error_id`, which its log line carries too."""
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = errors
    if error_id:
        body["error_id"] = error_id
    return body


def error_response(
    status: int,
    message: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    return Response(
        status_code=status, content_type="application/json", body=error_body(message, errors), headers=headers
    )


def caller(required_scope: str) -> str:
    """The caller's Cognito sub. API Gateway already checked the token and the route's scope; this
    checks again so a route that loses its authorizer settings fails closed."""
    claims = app.current_event.request_context.authorizer.claims or {}
    subject = claims.get("sub")
    if not subject:
        raise UnauthorizedError("the request carries no authenticated caller")
    if required_scope not in str(claims.get("scope", "")).split():
        raise ForbiddenError(f"the access token lacks the scope {required_scope}")
    return str(subject)


@app.post("/v1/requests")
@tracer.capture_method
def submit_request(
    request: Annotated[SubmitRequest, Body()],
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Repeat it to retry safely: the same key and body are accepted once.",
        ),
    ],
) -> Response[dict[str, Any]]:
    accepted = service().accept(caller(WRITE_SCOPE), idempotency_key, request)
    metrics.add_metric(
        name="RequestsReplayed" if accepted.replayed else "RequestsAccepted", unit=MetricUnit.Count, value=1
    )
    base = public_base_url()
    headers = {"Location": accepted.location(base)}
    if accepted.replayed:
        headers["Idempotency-Replayed"] = "true"
    return Response(
        status_code=202, content_type="application/json", body=accepted.body(base), headers=headers
    )


def public_base_path() -> str:
    """What precedes the API's own paths in the URL the caller used: the stage (`/prod`) on the
    execute-api domain, a base path on a custom domain, nothing behind a bare path."""
    event = app.current_event
    full, own = event.request_context.path or "", event.path
    return full[: -len(own)] if own and full.endswith(own) else ""


def public_base_url() -> str:
    """The absolute URL the caller's paths start from: the scheme API Gateway saw (its
    X-Forwarded-Proto), the domain the caller used (execute-api or a custom domain), the stage."""
    event = app.current_event
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    host = event.request_context.domain_name or headers.get("host", "")
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    return f"{scheme}://{host}{public_base_path()}" if host else public_base_path()


@app.get("/v1/requests/<request_id>")
@tracer.capture_method
def get_request(request_id: Annotated[str, Path(pattern=REQUEST_ID_PATTERN)]) -> dict[str, Any]:
    return service().status(caller(READ_SCOPE), request_id)


@app.post("/v1/requests/<request_id>/cancel")
@tracer.capture_method
def cancel_request(request_id: Annotated[str, Path(pattern=REQUEST_ID_PATTERN)]) -> Response[dict[str, Any]]:
    cancelling = service().cancel(caller(WRITE_SCOPE), request_id)
    return Response(status_code=202, content_type="application/json", body=cancelling)


@app.get("/v1/requests")
@tracer.capture_method
def list_requests(
    pipeline: Annotated[Pipeline | None, Query(description="Only requests of this pipeline.")] = None,
    status: Annotated[RequestStatus | None, Query(description="Only requests in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many requests.")] = 20,
    cursor: Annotated[
        str | None,
        Query(
            max_length=1024,
            description="The `next_cursor` of the previous page, as it was returned, within a day.",
        ),
    ] = None,
) -> dict[str, Any]:
    subject = caller(READ_SCOPE)
    try:
        page = service().listings.page(
            subject, limit, cursor, pipeline.value if pipeline else None, status.value if status else None
        )
    except BadCursor as error:
        raise InvalidRequest("cursor", str(error)) from error
    base = public_base_url()
    for item in page.items:
        item["links"] = {"self": f"{base}/v1/requests/{item['request_id']}"}
    return {"requests": page.items, "next_cursor": page.cursor}


@app.get("/v1/datasets")
@tracer.capture_method
def list_datasets() -> dict[str, Any]:
    return {"datasets": service().dataset_listing.all(caller(READ_SCOPE))}


@app.get("/v1/tools")
@tracer.capture_method
def list_tools() -> dict[str, Any]:
    caller(READ_SCOPE)
    return {"tools": service().tools()}


@app.get("/v1/models")
@tracer.capture_method
def list_models() -> dict[str, Any]:
    return {"models": service().models(caller(READ_SCOPE))}


@app.post("/v1/datasets")
@tracer.capture_method
def new_dataset() -> Response[dict[str, Any]]:
    upload = service().datasets.new_upload(caller(WRITE_SCOPE))
    return Response(status_code=201, content_type="application/json", body=upload)


@app.not_found
def _no_such_route(_error: Exception) -> Response[Any]:
    # API Gateway routes only the template's paths here, but a path Powertools' route patterns do
    # not match (a request id with characters they exclude) would get its own error shape.
    return error_response(404, "no such route")


@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response[Any]:
    problems = []
    for issue in error.errors():
        location = [str(part) for part in issue.get("loc", ()) if part not in ("body", "request")]
        if issue.get("type") == "json_invalid":
            problems.append({"field": "body", "problem": "is not valid JSON"})
            continue
        if issue.get("type") == "union_tag_invalid":
            problems.append({"field": "pipeline", "problem": issue.get("msg", "is not a known pipeline")})
            continue
        if location[:1] == ["header"]:
            location = [f"header {location[1] if len(location) > 1 else ''}".strip()]
        # A query parameter by the name the caller wrote, as `cursor` and unknown parameters are.
        if location[:1] == ["query"]:
            location = location[1:]
        # A discriminated union puts the chosen variant's tag first in the path: drop it.
        if len(location) > 1 and location[0] in PIPELINES:
            location = location[1:]
        problems.append({"field": ".".join(location) or "body", "problem": issue.get("msg", "is invalid")})
    return error_response(400, "the request is invalid", problems + unknown_query_parameters())


@app.exception_handler(UnicodeDecodeError)
def _not_text(error: UnicodeDecodeError) -> Response[Any]:
    # API Gateway hands a body that is not UTF-8 over base64-encoded; the request validator
    # refuses it first, so this is for routes and deployments without one.
    return error_response(400, "the request is invalid", [{"field": "body", "problem": "is not UTF-8 text"}])


@app.exception_handler(RequestUnsupportedContentType)
def _not_json(_error: RequestUnsupportedContentType) -> Response[Any]:
    # A Content-Type `rejected_before_routing` lets through but Powertools' body parser does not
    # read as JSON (it matches `application/json` case-sensitively, before any parameters).
    return error_response(
        400, "the request is invalid", [{"field": "body", "problem": "Content-Type must be application/json"}]
    )


@app.exception_handler(InvalidRequest)
def _not_allowed(error: InvalidRequest) -> Response[Any]:
    return error_response(400, "the request is invalid", [{"field": error.field, "problem": error.problem}])


@app.exception_handler(RequestNotFound)
def _not_found(error: RequestNotFound) -> Response[Any]:
    return error_response(404, f"no request {error.args[0]} for this caller")


@app.exception_handler(RequestAlreadyFinished)
def _already_finished(error: RequestAlreadyFinished) -> Response[Any]:
    return error_response(409, str(error))


@app.exception_handler(IdempotencyValidationError)
def _key_reused(_error: IdempotencyValidationError) -> Response[Any]:
    return error_response(422, "this Idempotency-Key was already used with a different request body")


@app.exception_handler(IdempotencyAlreadyInProgressError)
def _in_progress(_error: IdempotencyAlreadyInProgressError) -> Response[Any]:
    return error_response(
        409,
        "a request with this Idempotency-Key is still being accepted",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


@app.exception_handler(IdempotencyInconsistentStateError)
def _dedupe_raced(error: IdempotencyInconsistentStateError) -> Response[Any]:
    # Another request changed the key's record between Powertools' write and read, through all of
    # Powertools' own retries: a race a later attempt does not meet.
    return _retry_later(error)


@app.exception_handler(IdempotencyPersistenceLayerError)
def _dedupe_failed(error: IdempotencyPersistenceLayerError) -> Response[Any]:
    # Powertools wraps whatever its table answered: the answer is the cause's.
    return _failed_call(error.__cause__ or error)


@app.exception_handler(ClientError)
@app.exception_handler(BotoCoreError)
def _dependency_failed(error: Exception) -> Response[Any]:
    # The idempotency record was released when the call failed, so a retry is accepted exactly once.
    return _failed_call(error)


@app.exception_handler(CatalogBusy)
def _catalog_busy(error: CatalogBusy) -> Response[Any]:
    return _retry_later(error)


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response[Any]:
    if isinstance(error, ServiceError):
        raise error  # Powertools' own 401, 403 and 404: it answers them itself
    return _internal_error(error, UNEXPECTED_ERRORS)


def _failed_call(error: BaseException) -> Response[Any]:
    if worth_retrying(error):
        return _retry_later(error)
    if isinstance(error, ClientError | BotoCoreError):
        return _internal_error(error, DEPENDENCY_MISCONFIGURED)
    return _internal_error(error, UNEXPECTED_ERRORS)


def _retry_later(error: BaseException) -> Response[Any]:
    """503 with Retry-After: throttled, a dependency's 5xx, the network, a race."""
    logger.warning(
        "a dependency is unavailable; answered 503",
        extra={"error_code": error_code(error), "error": str(error)},
        exc_info=error,
    )
    metrics.add_metric(name=DEPENDENCY_UNAVAILABLE, unit=MetricUnit.Count, value=1)
    return error_response(
        503,
        "the service cannot answer right now; retry after Retry-After seconds",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _internal_error(error: BaseException, metric: str) -> Response[Any]:
    """500 with an error id: this stack's own fault, which a retry does not mend. What failed (the
    AWS error, with the names of this stack's resources) goes to the log under that id, never to the
    caller (docs/reliability.md #33)."""
    error_id = str(uuid.uuid4())
    logger.error(
        "the request failed on a fault of this service; answered 500",
        extra={"error_id": error_id, "error_code": error_code(error), "error": str(error), "metric": metric},
        exc_info=error,
    )
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return Response(
        status_code=500,
        content_type="application/json",
        body=error_body(INTERNAL_ERROR_MESSAGE, error_id=error_id),
    )


def rejected_before_routing(event: dict[str, Any], max_bytes: int) -> dict[str, Any] | None:
    """Checks that must run before the body is parsed. Not a Powertools middleware: the resolver
    validates (and so parses) the body before any middleware of ours runs."""
    if event.get("httpMethod") != "POST":
        return None
    body = event.get("body") or ""
    size = len(body.encode()) if not event.get("isBase64Encoded") else len(body) * 3 // 4
    if size > max_bytes:
        return _proxy_error(413, "the request is too large", f"is {size} bytes; the limit is {max_bytes}")
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type and content_type != "application/json":
        return _proxy_error(
            400, "the request is invalid", f"Content-Type must be application/json, not {content_type}"
        )
    if not event.get("isBase64Encoded") and json_depth(body) > MAX_JSON_DEPTH:
        # Python's parser would give up with a RecursionError long before the body's end.
        return _proxy_error(400, "the request is invalid", f"nests deeper than {MAX_JSON_DEPTH} levels")
    return None


def lowercase_media_type(event: dict[str, Any]) -> None:
    """Media types are case-insensitive (RFC 9110 section 8.3.1), but Powertools' body parser matches
    `application/json` as written: the header is handed on with its media type in lower case."""
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key) or {}
        for name, value in headers.items():
            if name.lower() != "content-type":
                continue
            values = value if isinstance(value, list) else [value]
            lowered = [_lowercased_media_type(str(item)) for item in values]
            headers[name] = lowered if isinstance(value, list) else lowered[0]


def _lowercased_media_type(value: str) -> str:
    media_type, separator, parameters = value.partition(";")
    return media_type.strip().lower() + separator + parameters


_JSON_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON text, counted without parsing it."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _proxy_error(status: int, message: str, problem: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(error_body(message, [{"field": "body", "problem": problem}])),
        "isBase64Encoded": False,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    requests = service()
    rejected = rejected_before_routing(event, load_settings(FrontDoorSettings).MAX_REQUEST_BYTES)
    if rejected is not None:
        return rejected
    lowercase_media_type(event)
    requests.register_context(context)
    return app.resolve(event, context)
