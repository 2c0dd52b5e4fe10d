"""The public API described: `docs/openapi.json`, generated from the front door's own routes.

Powertools emits the routes, their parameters and request bodies from the handler's signatures
(https://docs.aws.amazon.com/powertools/python/latest/core/event_handler/openapi/). What it
cannot know is added here from the sources that decide it, so the document cannot drift from them:

- each route's answers (statuses, bodies, headers) from the table below, which the front door's
  exception handlers and template.yaml's gateway responses answer (schemathesis holds the API to
  it in `make test`: tests/e2e/test_api_fuzz.py);
- each route's scope from template.yaml's `AuthorizationScopes`, the stage from `StageName`;
- the closed sets as enums: `model_id` from the `AllowedModelIds` default, `base_model` (and
  `teacher_model`) from the customization capability table.

`agenthub openapi [OUT]` writes it; tests/unit/test_openapi.py fails when the committed copy is stale.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agenthub import PROJECT_ROOT
from agenthub.cfn_yaml import load as load_yaml

DOCUMENT = PROJECT_ROOT / "docs" / "openapi.json"
FUNCTIONS_DIR = PROJECT_ROOT / "functions"
TEMPLATE = PROJECT_ROOT / "template.yaml"
TITLE = "Agent hub API"
SCHEME = "cognito"

_REF = "#/components/schemas/"
ERROR = {
    "type": "object",
    "description": "Every error: what went wrong, for a refused body or parameter which field and why, "
    "and for a fault of the service (500) the id its log carries.",
    "required": ["message"],
    "properties": {
        "message": {"type": "string"},
        "error_id": {
            "type": "string",
            "format": "uuid",
            "description": "With a 500 only: the service's log carries this id; quote it when reporting.",
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "problem"],
                "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
            },
        },
    },
}
_STATUS = {"type": "string", "enum": ["ACCEPTED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]}
_PIPELINE = {"type": "string", "enum": ["preprocess", "invoke", "customize", "agent"]}
_LINKS = {
    "type": "object",
    "required": ["self"],
    "properties": {"self": {"type": "string", "format": "uri", "description": "Absolute."}},
}
_NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}]}
SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": ERROR,
    "Accepted": {
        "type": "object",
        "required": ["request_id", "status", "pipeline", "stages", "links"],
        "properties": {
            "request_id": {"type": "string"},
            "status": {"const": "ACCEPTED"},
            "pipeline": _PIPELINE,
            "stages": {"type": "array", "items": {"type": "string"}},
            "links": _LINKS,
        },
    },
    "RequestView": {
        "type": "object",
        "required": ["request_id", "pipeline", "status", "stages", "updated_at", "history"],
        "properties": {
            "request_id": {"type": "string"},
            "pipeline": _PIPELINE,
            "status": _STATUS,
            "stages": {"type": "array", "items": {"type": "string"}},
            "created_at": {"type": ["string", "null"]},
            "updated_at": {"type": "string"},
            "result": {"description": "The pipeline's result once SUCCEEDED, inline when small."},
            "error": {"description": "Why it FAILED or was CANCELLED, inline when small."},
            "progress": {"description": "The latest progress a long run announced."},
            "history": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["event_type", "status", "occurred_at"],
                    "properties": {
                        "event_type": {"type": "string"},
                        "status": _STATUS,
                        "occurred_at": {"type": "string"},
                    },
                },
            },
            "result_url": {
                "type": "string",
                "description": "A presigned link to a result too large to inline.",
            },
            "error_url": {
                "type": "string",
                "description": "A presigned link to an error too large to inline.",
            },
        },
    },
    "RequestList": {
        "type": "object",
        "required": ["requests", "next_cursor"],
        "properties": {
            "requests": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["request_id", "pipeline", "status", "updated_at", "links"],
                    "properties": {
                        "request_id": {"type": "string"},
                        "pipeline": _PIPELINE,
                        "status": _STATUS,
                        "created_at": {"type": ["string", "null"]},
                        "updated_at": {"type": "string"},
                        "links": _LINKS,
                    },
                },
            },
            "next_cursor": {
                "type": ["string", "null"],
                "description": "The next page's cursor; null on the last.",
            },
        },
    },
    "Cancelling": {
        "type": "object",
        "required": ["request_id", "status", "cancel_requested"],
        "properties": {
            "request_id": {"type": "string"},
            "status": _STATUS,
            "cancel_requested": {"const": True},
        },
    },
    "DatasetUpload": {
        "type": "object",
        "required": ["dataset_id", "upload", "expires_in", "max_bytes"],
        "properties": {
            "dataset_id": {"type": "string"},
            "upload": {
                "type": "object",
                "description": "A presigned S3 POST: send `fields` and then the file as `file_field`.",
                "required": ["url", "fields", "file_field"],
                "properties": {
                    "url": {"type": "string", "format": "uri"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    "method": {"const": "POST"},
                    "file_field": {"type": "string"},
                },
            },
            "expires_in": {"type": "integer"},
            "max_bytes": {"type": "integer"},
            "format": {"type": "string"},
        },
    },
    "DatasetList": {
        "type": "object",
        "required": ["datasets"],
        "properties": {
            "datasets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["dataset_id", "bytes", "uploaded_at"],
                    "properties": {
                        "dataset_id": {"type": "string"},
                        "bytes": {"type": "integer"},
                        "uploaded_at": {"type": "string"},
                    },
                },
            }
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["models"],
        "properties": {
            "models": {
                "type": "array",
                "description": "The caller's customized models, newest first. A lake object is a "
                "presigned link; a lake folder is withheld.",
                "items": {
                    "type": "object",
                    "required": ["name", "request_id", "registered_at", "datasets"],
                    "properties": {
                        "name": {"type": "string", "description": "What `custom_model` names in a request."},
                        "request_id": {"type": "string"},
                        "registered_at": {"type": "string"},
                        "method": _NULLABLE_STRING,
                        "technique": _NULLABLE_STRING,
                        "base_model": _NULLABLE_STRING,
                        "datasets": {"type": "array", "items": {"type": "object"}},
                        "metrics_location": _NULLABLE_STRING,
                        "model_arn": _NULLABLE_STRING,
                        "artifacts_uri": _NULLABLE_STRING,
                        "invocable_arn": {
                            "anyOf": [{"type": "string"}, {"type": "null"}],
                            "description": "The deployment to invoke it through; null until deployed.",
                        },
                    },
                },
            }
        },
    },
    "ToolList": {
        "type": "object",
        "required": ["tools"],
        "properties": {
            "tools": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "description", "input_schema"],
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "input_schema": {"type": "object"},
                    },
                },
            }
        },
    },
}

_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"{_REF}Error"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _ok(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"{_REF}{schema}"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


# What every route can answer: API Gateway's authorizer, its stage throttle, a fault of the
# service's own (front_door.app._internal_error), a dependency that cannot answer now.
COMMON = {
    "401": _error("No token, or an expired or forged one (API Gateway's Cognito authorizer)."),
    "403": _error("The token lacks the route's scope."),
    "429": _error("Over the stage's throttle.", _RETRY_AFTER),
    "500": _error(
        "A fault of the service, not of the request (a permission, a resource or a call of its own is "
        "wrong): retrying will not help until it is fixed. The body's `error_id` is in the service's log."
    ),
    "503": _error(
        "A dependency is throttled or unavailable for now (nothing was accepted): retry after Retry-After.",
        _RETRY_AFTER,
    ),
}
_UNKNOWN_QUERY = "a query parameter the route does not take (each named in `errors`, with those it takes)"
_QUERY_REFUSED = _error("A query parameter the route does not take (named in `errors`, with those it takes).")
_BAD = _error(
    "Malformed JSON, a wrong Content-Type, a field the API refuses, or a query parameter the route "
    "does not take (named in `errors`)."
)
_TOO_LARGE = _error("The body is over the API's limit (1 MiB).")
_NOT_FOUND = _error("No such request for this caller (another caller's request is not found either).")

RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/requests"): {
        "202": _ok(
            "Accepted (or, with Idempotency-Replayed, the first answer to this key and body).",
            "Accepted",
            {
                "Location": {"description": "The request's absolute URL.", "schema": {"type": "string"}},
                "Idempotency-Replayed": {
                    "description": "`true` when this is the first answer again.",
                    "schema": {"const": "true"},
                },
            },
        ),
        "400": _BAD,
        "409": _error("A request with this Idempotency-Key is still being accepted.", _RETRY_AFTER),
        "413": _TOO_LARGE,
        "422": _error("This Idempotency-Key was already used with a different body."),
    },
    ("get", "/v1/requests"): {
        "200": _ok("The caller's requests, newest first, a page at a time.", "RequestList"),
        "400": _error(
            "A parameter out of range; a cursor this API did not give this caller, or one over a day old; "
            f"or {_UNKNOWN_QUERY}."
        ),
    },
    ("get", "/v1/requests/{request_id}"): {
        "200": _ok("The request's status, result or error, progress and history.", "RequestView"),
        "400": _error(f"Not a request id, or {_UNKNOWN_QUERY}."),
        "404": _NOT_FOUND,
    },
    ("post", "/v1/requests/{request_id}/cancel"): {
        "202": _ok("The pipeline was asked to stop; the request ends CANCELLED.", "Cancelling"),
        "400": _error(f"Not a request id, a body that is not JSON, or {_UNKNOWN_QUERY}."),
        "404": _NOT_FOUND,
        "409": _error("The request has already ended."),
        "413": _TOO_LARGE,
    },
    ("post", "/v1/datasets"): {
        "201": _ok("A presigned upload for a new dataset under the caller's own prefix.", "DatasetUpload"),
        "400": _BAD,
        "413": _TOO_LARGE,
    },
    ("get", "/v1/datasets"): {
        "200": _ok("The caller's uploaded datasets, newest first.", "DatasetList"),
        "400": _QUERY_REFUSED,
    },
    ("get", "/v1/tools"): {
        "200": _ok("The tools an agent may use now.", "ToolList"),
        "400": _QUERY_REFUSED,
    },
    ("get", "/v1/models"): {
        "200": _ok("The caller's customized models.", "ModelList"),
        "400": _QUERY_REFUSED,
    },
}


@contextmanager
def _functions_importable() -> Any:
    """functions/ is a Lambda task root, not a package: the front door imports from it as Lambda does."""
    added = str(FUNCTIONS_DIR) not in sys.path
    if added:
        sys.path.insert(0, str(FUNCTIONS_DIR))
    try:
        yield
    finally:
        if added:
            sys.path.remove(str(FUNCTIONS_DIR))


def _front_door_app() -> Any:
    # The module reads no settings at import; these only keep Powertools' tracer quiet offline.
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with _functions_importable():
        from front_door.app import app

        return app


def _template_facts(
    template: dict[str, Any],
) -> tuple[str, dict[tuple[str, str], list[str]], list[str], dict[str, str]]:
    resources = template["Resources"]
    server = resources["HubResourceServer"]["Properties"]
    scope_text = {
        f"{server['Identifier']}/{scope['ScopeName']}": scope["ScopeDescription"]
        for scope in server["Scopes"]
    }
    stage = resources["HubApi"]["Properties"]["StageName"]
    scopes = {}
    for event in resources["FrontDoorFunction"]["Properties"]["Events"].values():
        if event["Type"] == "Api":
            properties = event["Properties"]
            scopes[(properties["Method"].lower(), properties["Path"])] = properties["Auth"][
                "AuthorizationScopes"
            ]
    models = template["Parameters"]["AllowedModelIds"]["Default"].split(",")
    return stage, scopes, models, scope_text


def _enum_on_string(schema: dict[str, Any], values: list[str]) -> None:
    """Puts `enum` on a property's string branch (`anyOf: [string, null]` or a plain string)."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch.pop("pattern", None)
            branch.pop("minLength", None)
            branch.pop("maxLength", None)
            branch["enum"] = values


def document(template_path: Path = TEMPLATE) -> dict[str, Any]:
    from aws_lambda_powertools.event_handler.openapi.models import (
        OAuth2,
        OAuthFlowAuthorizationCode,
        OAuthFlowClientCredentials,
        OAuthFlows,
        Server,
        ServerVariable,
    )

    stage, scopes, models, scope_text = _template_facts(load_yaml(template_path))
    app = _front_door_app()
    with _functions_importable():
        from contracts.customization import CAPABILITIES, TEACHERS
    domain = "https://{domain}.auth.{region}.amazoncognito.com"
    generated = app.get_openapi_schema(
        title=TITLE,
        version="1",
        description="The agent hub's public API. Tokens come from the stack's Cognito user pool (its "
        "TokenEndpoint output); the base URL is the ApiUrl output.",
        servers=[
            Server(
                url=f"https://{{api_id}}.execute-api.{{region}}.amazonaws.com/{stage}",
                description="The stack's ApiUrl output: its REST API, on its stage.",
                variables={
                    "api_id": ServerVariable(default="abcde12345", description="The REST API's id."),
                    "region": ServerVariable(default="us-east-1"),
                },
            )
        ],
        security_schemes={
            SCHEME: OAuth2(
                description="The user pool's OAuth2 endpoints (authorization code with PKCE for people, "
                "client credentials for machines); its domain is in the stack's TokenEndpoint output.",
                flows=OAuthFlows(
                    authorizationCode=OAuthFlowAuthorizationCode(
                        authorizationUrl=f"{domain}/oauth2/authorize",
                        tokenUrl=f"{domain}/oauth2/token",
                        scopes=scope_text,
                    ),
                    clientCredentials=OAuthFlowClientCredentials(
                        tokenUrl=f"{domain}/oauth2/token", scopes=scope_text
                    ),
                ),
            )
        },
    )
    spec: dict[str, Any] = json.loads(generated.model_dump_json(by_alias=True, exclude_none=True))
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        components.pop(unused, None)
    components.update(SCHEMAS)
    documented = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            key = (method, path)
            if key not in RESPONSES or key not in scopes:
                raise LookupError(
                    f"{method.upper()} {path}: add its answers to RESPONSES and its event to template.yaml"
                )
            operation["responses"] = {**RESPONSES[key], **COMMON}
            operation["security"] = [{SCHEME: scopes[key]}]
            documented.add(key)
    stale = set(RESPONSES) - documented
    if stale:
        raise LookupError(f"RESPONSES names routes the front door does not have: {sorted(stale)}")
    base_models = sorted({model for _, _, model in CAPABILITIES})
    teachers = sorted({teacher for choices in TEACHERS.values() for teacher in choices})
    _enum_on_string(components["CustomizeInput"]["properties"]["base_model"], base_models)
    _enum_on_string(components["CustomizeInput"]["properties"]["teacher_model"], teachers)
    for name in ("InvokeInput", "AgentInput"):
        _enum_on_string(components[name]["properties"]["model_id"], models)
    return spec


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
