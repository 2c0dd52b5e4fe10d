"""The local API enforces the template's Cognito authorizer and request validator before any handler runs."""

from __future__ import annotations

import uuid

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from agenthub.client import HubClient
from tests.e2e.conftest import Hub

SUBMIT = {"pipeline": "preprocess", "input": {"text": "hello"}}


def post(hub: Hub, token: str | None, body: object = SUBMIT, key: str | None = "k-1") -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if key is not None:
        headers["Idempotency-Key"] = key
    return requests.post(f"{hub.api_url}/v1/requests", json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def writer(hub: Hub) -> str:
    return hub.token("api-writer")


def test_a_request_without_a_token_is_401_and_runs_nothing(hub: Hub) -> None:
    before = hub.invocations("FrontDoorFunction")

    response = post(hub, None)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert hub.invocations("FrontDoorFunction") == before


def test_a_forged_token_is_401(hub: Hub) -> None:
    stranger = RSAKey.generate_key(2048)
    claims = {"sub": "mallory", "token_use": "access", "scope": "hub/requests.write", "exp": 4102444800,
              "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{hub.info['user_pool_id']}",
              "client_id": hub.info["user_pool_client_id"]}  # fmt: skip
    forged = jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, stranger)
    before = hub.invocations("FrontDoorFunction")

    assert post(hub, forged).status_code == 401
    assert hub.invocations("FrontDoorFunction") == before


def test_an_expired_token_is_401(hub: Hub) -> None:
    assert hub.cloud.api is not None
    expired = hub.cloud.api.cognito.access_token(
        hub.info["user_pool_id"],
        hub.info["user_pool_client_id"],
        "sub-1",
        ("hub/requests.write",),
        "u",
        expires_in=-60,
    )

    assert post(hub, expired).status_code == 401


def test_a_token_from_another_user_pool_is_401(hub: Hub) -> None:
    assert hub.cloud.api is not None
    other_pool = hub.cloud.api.cognito.access_token(
        "us-east-1_SomeOtherPool", hub.info["user_pool_client_id"], "sub-1", ("hub/requests.write",), "u"
    )

    assert post(hub, other_pool).status_code == 401


def test_a_token_without_the_routes_scope_is_403_and_runs_nothing(hub: Hub) -> None:
    reader = hub.token("api-reader", ["hub/requests.read"])
    before = hub.invocations("FrontDoorFunction")

    response = post(hub, reader)

    assert response.status_code == 403
    assert hub.invocations("FrontDoorFunction") == before


def test_a_machine_token_from_client_credentials_is_accepted(hub: Hub) -> None:
    cognito = hub.aws("cognito-idp")
    client = cognito.describe_user_pool_client(
        UserPoolId=hub.info["user_pool_id"], ClientId=hub.info["machine_client_id"]
    )["UserPoolClient"]
    token = requests.post(
        hub.info["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(client["ClientId"], client["ClientSecret"]),
        timeout=30,
    )
    assert token.status_code == 200

    response = post(hub, token.json()["access_token"], key=str(uuid.uuid4()))

    assert response.status_code == 202


def machine_token(hub: Hub, client_id: str, secret: str) -> str:
    response = requests.post(
        hub.info["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_each_calling_system_with_its_own_app_client_is_its_own_caller(hub: Hub) -> None:
    """A client-credentials token's sub is its app client's id: two systems sharing MachineClientId
    are one caller. One app client per system, made as the README's "Signing in" shows, keeps them
    apart."""
    cognito = hub.aws("cognito-idp")
    systems = {}
    for name in ("billing", "reporting"):
        made = cognito.create_user_pool_client(
            UserPoolId=hub.info["user_pool_id"],
            ClientName=f"machine-{name}",
            GenerateSecret=True,
            AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthFlows=["client_credentials"],
            AllowedOAuthScopes=["hub/requests.write", "hub/requests.read"],
            SupportedIdentityProviders=["COGNITO"],
        )["UserPoolClient"]
        systems[name] = HubClient(hub.api_url, machine_token(hub, made["ClientId"], made["ClientSecret"]))

    accepted = systems["billing"].submit(SUBMIT)
    assert accepted.status == 202

    assert systems["billing"].get(accepted.body["request_id"]).status == 200
    assert systems["reporting"].get(accepted.body["request_id"]).status == 404
    assert systems["reporting"].post(f"/v1/requests/{accepted.body['request_id']}/cancel").status == 404


def test_the_sqs_triggers_are_listed_as_event_source_mappings(hub: Hub) -> None:
    """`aws lambda list-event-source-mappings --endpoint-url ...` shows what AWS would."""
    lambda_ = hub.aws("lambda")
    assert hub.cloud.stack is not None
    stacks = [part for deployed in hub.cloud.stacks.values() for part in deployed.walk()]  # the tools' too
    queues = {
        deployed.attributes["Arn"]
        for stack in stacks
        for deployed in stack.of_type("AWS::SQS::Queue").values()
    }
    declared = [name for stack in stacks for name in stack.of_type("AWS::Lambda::EventSourceMapping")]

    mappings = lambda_.list_event_source_mappings()["EventSourceMappings"]

    assert len(mappings) == len(declared) >= 6
    assert all(mapping["EventSourceArn"] in queues for mapping in mappings)
    assert all(mapping["State"] == "Enabled" for mapping in mappings)
    writer = hub.cloud.stack.function("CoreWriterFunction")
    (core,) = lambda_.list_event_source_mappings(FunctionName=writer.name)["EventSourceMappings"]
    assert core["FunctionArn"] == writer.arn
    assert core["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert lambda_.get_event_source_mapping(UUID=core["UUID"])["BatchSize"] == 10


def test_a_wrong_client_secret_gets_no_token(hub: Hub) -> None:
    response = requests.post(
        hub.info["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(hub.info["machine_client_id"], "not-the-secret"),
        timeout=30,
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_people_tokens_carry_the_hub_scopes_real_cognito_would_grant(hub: Hub) -> None:
    token = hub.token("scope-check")
    claims = jwt.decode(token, hub.cloud.api.cognito._keys(hub.info["user_pool_id"])).claims  # type: ignore[union-attr]

    assert set(claims["scope"].split()) == {"openid", "email", "hub/requests.write", "hub/requests.read"}
    assert claims["token_use"] == "access"


def test_the_request_validator_refuses_a_missing_idempotency_key_before_the_handler(
    hub: Hub, writer: str
) -> None:
    before = hub.invocations("FrontDoorFunction")

    response = post(hub, writer, key=None)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["message"]
    assert hub.invocations("FrontDoorFunction") == before


def test_the_request_validator_refuses_an_unknown_pipeline_before_the_handler(hub: Hub, writer: str) -> None:
    before = hub.invocations("FrontDoorFunction")

    response = post(hub, writer, body={"pipeline": "translate", "input": {}})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"
    assert "translate" in response.json()["errors"][0]["problem"]
    assert hub.invocations("FrontDoorFunction") == before


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"pipeline": "preprocess", "input": {"text": "\xff\xfe"}}',
        # Deeper than Python's recursion limit: the validator's parser gave up with a 500 once.
        b'{"pipeline": "preprocess", "input": ' + b"[" * 100_000,
    ],
)
def test_a_body_that_is_not_json_text_is_400_before_the_handler(hub: Hub, writer: str, raw: bytes) -> None:
    before = hub.invocations("FrontDoorFunction")

    response = requests.post(
        f"{hub.api_url}/v1/requests",
        data=raw,
        headers={
            "Authorization": f"Bearer {writer}",
            "Content-Type": "application/json",
            "Idempotency-Key": "raw-1",
        },
        timeout=30,
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["problem"] == "Invalid request body"
    assert hub.invocations("FrontDoorFunction") == before


def test_an_unknown_route_is_403_missing_authentication_token(hub: Hub, writer: str) -> None:
    response = requests.get(f"{hub.api_url}/v1/nothing-here", headers={"Authorization": writer}, timeout=30)

    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_the_stage_throttle_control_holds_refills_and_refuses_what_it_cannot_do(hub: Hub) -> None:
    throttle = f"{hub.info['endpoint_url']}/_agenthub/throttle"
    try:
        held = requests.post(throttle, json={"refill": True, "hold": True}, timeout=10)
        bad = [
            requests.post(throttle, json=body, timeout=10)
            for body in (["hold"], {"hold": "yes"}, {"drain": True})
        ]
        wrong_method = requests.delete(throttle, timeout=10)
    finally:
        released = requests.post(throttle, json={"refill": True, "hold": False}, timeout=10)

    assert held.status_code == 200
    assert held.json() == {"rate": 50.0, "burst": 100, "tokens": 100.0, "held": True}
    assert [answer.status_code for answer in bad] == [400, 400, 400]
    assert all(answer.json()["message"] for answer in bad)
    assert wrong_method.status_code == 405
    assert released.json()["held"] is False
