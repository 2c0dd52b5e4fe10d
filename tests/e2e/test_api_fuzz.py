"""The public API fuzzed through the local cloud with schemathesis, from docs/openapi.json (generated
from the front door's routes and template.yaml, and checked current by tests/unit/test_openapi.py).

Every operation gets schema-shaped calls and schema-breaking ones (schemathesis's examples,
coverage and fuzzing phases), signed in as a local user, through the local API's authorizer,
request validator and stage throttle, to the real front door. No call may get a 5xx: the local
cloud's dependencies are all up, so a 503 (a dependency throttled or unreachable) or a 500 (a call
the stack's own configuration got wrong, or a fault of the front door) is a finding, documented or
not. Nor may it get a status the document does not list, a body off its schema, or headers it does
not describe. Derandomized and bounded. docs/reliability.md cases 6, 31, 32, 41 and 42.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from agenthub.openapi import DOCUMENT
from tests.e2e.conftest import Hub

SCHEMA = schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text()))
# Not about the document: what a schema cannot say. A body valid by the document is still refused
# (400) when it names a dataset the caller never uploaded, a tool not registered now, a combination
# the customization capability table does not offer, or prompts over 48 KiB together; and the same
# Idempotency-Key with another body is 422. And API Gateway answers a method no route has with 403
# "Missing Authentication Token", as for an unknown path, not 405.
EXCLUDED = [checks.positive_data_acceptance, checks.unsupported_method]


@pytest.fixture(scope="module")
def authorization(hub: Hub) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.token('fuzzer')}"}


@SCHEMA.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),  # the module's hub and token are shared on purpose
)
def test_no_generated_call_gets_a_5xx(
    case: schemathesis.Case, hub: Hub, authorization: dict[str, str]
) -> None:
    response = case.call(base_url=hub.api_url, headers=authorization)

    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    )
    case.validate_response(response, excluded_checks=EXCLUDED, headers=authorization)
