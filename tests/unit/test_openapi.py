"""docs/openapi.json: generated from the front door's routes and template.yaml, and kept current."""

from __future__ import annotations

import json

from agenthub.openapi import DOCUMENT, document, render


def test_the_committed_document_is_what_the_routes_generate() -> None:
    assert DOCUMENT.read_text() == render(document()), (
        "docs/openapi.json is stale: run `.venv/bin/agenthub openapi` and commit it"
    )


def test_every_operation_names_its_scope_its_answers_and_one_error_shape() -> None:
    spec = json.loads(DOCUMENT.read_text())

    assert spec["servers"][0]["url"].endswith(".amazonaws.com/prod")
    assert set(spec["components"]["securitySchemes"]["cognito"]["flows"]) == {
        "authorizationCode",
        "clientCredentials",
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            (security,) = operation["security"]
            scope = "hub/requests.write" if method == "post" else "hub/requests.read"
            assert security == {"cognito": [scope]}, (method, path)
            statuses = set(operation["responses"])
            assert {"400", "401", "403", "429", "500", "503"} <= statuses, (method, path)
            assert statuses & {"200", "201", "202"}, (method, path)
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    # A 500 names the log line that explains it (front_door.app._internal_error).
    assert "error_id" in spec["components"]["schemas"]["Error"]["properties"]


def test_the_api_headers_and_closed_sets_are_described() -> None:
    spec = json.loads(DOCUMENT.read_text())
    submit = spec["paths"]["/v1/requests"]["post"]
    schemas = spec["components"]["schemas"]

    assert {"Location", "Idempotency-Replayed"} <= set(submit["responses"]["202"]["headers"])
    assert "Retry-After" in submit["responses"]["409"]["headers"]
    assert any(parameter["name"].lower() == "idempotency-key" for parameter in submit["parameters"])
    base_model = schemas["CustomizeInput"]["properties"]["base_model"]
    assert "amazon.nova-lite-v1:0" in base_model["enum"]
    model_id = schemas["InvokeInput"]["properties"]["model_id"]["anyOf"][0]
    assert model_id["enum"] == ["amazon.nova-lite-v1:0", "amazon.nova-micro-v1:0", "amazon.nova-pro-v1:0"]
    assert schemas["Pipeline"]["enum"] == ["preprocess", "invoke", "customize", "agent"]
