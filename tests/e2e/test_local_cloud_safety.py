"""The local cloud is safe to leave running: tokens only it can sign, uploads held to their policy,
and (tests/e2e/test_cli.py) a clean 503 for calls caught by its stopping."""

from __future__ import annotations

import stat
import time
import uuid
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource

from agenthub.local.signing import KEY_FILE, load_signing_key
from tests.e2e.conftest import Hub

SUBMIT = {"pipeline": "preprocess", "input": {"text": "safety"}}


def post(hub: Hub, token: str) -> requests.Response:
    return requests.post(
        f"{hub.api_url}/v1/requests",
        json=SUBMIT,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )


def test_the_pool_signs_with_the_state_folders_own_key_and_serves_only_it(hub: Hub) -> None:
    jwks = requests.get(
        f"{hub.info['endpoint_url']}/{hub.info['user_pool_id']}/.well-known/jwks.json", timeout=30
    ).json()
    own = load_signing_key(hub.state_dir)
    token = hub.token("key-check")

    assert [key["kid"] for key in jwks["keys"]] == [own.kid]
    assert jwt.decode(token, own).header["kid"] == own.kid
    for secret in (KEY_FILE, "local-secret"):
        assert stat.S_IMODE((hub.state_dir / secret).stat().st_mode) == 0o600


def test_a_token_signed_with_the_key_moto_ships_is_401_and_runs_nothing(hub: Hub) -> None:
    """Anyone with moto installed holds that key: a local cloud trusting it trusts everyone."""
    shipped = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    claims = {**_claims(hub), "sub": "mallory"}
    before = hub.invocations("FrontDoorFunction")

    assert post(hub, jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, shipped)).status_code == 401
    assert hub.invocations("FrontDoorFunction") == before


def _claims(hub: Hub) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "claims-check",
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{hub.info['user_pool_id']}",
        "client_id": hub.info["user_pool_client_id"],
        "token_use": "access",
        "scope": "hub/requests.write hub/requests.read",
        "exp": now + 600,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }


MALFORMED: dict[str, dict[str, Any]] = {
    **{f"no {claim}": {claim: None} for claim in ("sub", "iss", "client_id", "token_use", "scope", "exp")},
    "exp as text": {"exp": "tomorrow"},
    "exp as true": {"exp": True},
    "exp as a float beyond any int": {"exp": 1e300},
    "sub as a number": {"sub": 42},
    "empty sub": {"sub": ""},
    "client_id not an id": {"client_id": "../../x"},
    "client_id far too long": {"client_id": "c" * 5000},
    "scope as a list": {"scope": ["hub/requests.write"]},
    "token_use as an object": {"token_use": {"access": True}},
}


@pytest.mark.parametrize("change", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_token_missing_a_claim_or_with_a_malformed_one_is_401_never_500(
    hub: Hub, change: dict[str, Any]
) -> None:
    assert hub.cloud.api is not None
    claims = {name: value for name, value in {**_claims(hub), **change}.items() if value is not None}
    before = hub.invocations("FrontDoorFunction")

    response = post(hub, hub.cloud.api.cognito.sign(claims))

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert hub.invocations("FrontDoorFunction") == before


@pytest.mark.parametrize("token", ["", "a.b.c", "e30.e30.", "not a token at all", "x" * 9000, "..", "é.é.é"])
def test_a_token_that_is_not_a_jwt_is_401(hub: Hub, token: str) -> None:
    assert post(hub, token).status_code == 401


def _upload(form: dict[str, Any], fields: dict[str, str], content: bytes) -> requests.Response:
    return requests.post(
        form["url"], data=fields, files={form["file_field"]: ("data.jsonl", content)}, timeout=30
    )


def test_one_caller_cannot_upload_into_another_callers_prefix(hub: Hub) -> None:
    """Both get a presigned POST from the front door; Bob's form pointed at Ada's key is refused by
    its policy, as S3 refuses it, and nothing lands under Ada's prefix."""
    ada, bob = hub.client("upload-ada"), hub.client("upload-bob")
    ada_form = ada.post("/v1/datasets").body
    bob_form = bob.post("/v1/datasets").body
    ada_key = ada_form["upload"]["fields"]["key"]
    s3, lake = hub.aws("s3"), hub.ref("DataLakeBucket")
    record = b'{"text": "one record"}\n'

    intruding = _upload(bob_form["upload"], {**bob_form["upload"]["fields"], "key": ada_key}, record)
    empty = _upload(bob_form["upload"], bob_form["upload"]["fields"], b"")
    own = _upload(bob_form["upload"], bob_form["upload"]["fields"], record)

    assert intruding.status_code == 403
    assert "<Code>AccessDenied</Code>" in intruding.text
    assert "Policy Condition failed" in intruding.text
    assert s3.list_objects_v2(Bucket=lake, Prefix=ada_key).get("KeyCount") == 0
    assert empty.status_code == 400
    assert "<Code>EntityTooSmall</Code>" in empty.text
    assert own.status_code == 204
    stored = s3.get_object(Bucket=lake, Key=bob_form["upload"]["fields"]["key"])["Body"].read()
    assert stored == record
