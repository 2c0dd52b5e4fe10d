"""The local cloud is safe to leave running: its own signing key, tokens it cannot read refused, and
presigned POSTs held to their policy. These run without a local cloud; tests/e2e/test_local_cloud_safety.py
checks the same through a running one."""

from __future__ import annotations

import base64
import json
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from moto.utilities.utils import load_resource
from werkzeug.test import Client

from agenthub.local import uploads
from agenthub.local.api import LocalApi
from agenthub.local.cognito import REQUIRED_ACCESS_CLAIMS, AuthError, LocalCognito
from agenthub.local.functions import InvocationResult, Throttled
from agenthub.local.signing import KEY_FILE, load_signing_key, public_jwks
from agenthub.local.stack import RestApiSpec, StageSpec

POOL = "us-east-1_LocalPool"
CLIENT = "localclient1"
SECRETS = {"local": "local"}
LAKE = "lake"


# -- the signing key --------------------------------------------------------------------------------


def test_each_state_folder_gets_its_own_key_readable_by_its_owner_only(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"

    key = load_signing_key(first)
    again = load_signing_key(first)
    other = load_signing_key(second)

    assert again.kid == key.kid
    assert other.kid != key.kid
    assert stat.S_IMODE((first / KEY_FILE).stat().st_mode) == 0o600
    shipped = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    assert key.as_dict(private=False)["n"] != shipped.as_dict(private=False)["n"]


def test_a_key_file_whose_mode_was_loosened_is_tightened_again(tmp_path: Path) -> None:
    key = load_signing_key(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)

    assert load_signing_key(tmp_path).kid == key.kid
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_the_served_jwks_holds_the_public_half_only(tmp_path: Path) -> None:
    (served,) = public_jwks(load_signing_key(tmp_path))["keys"]

    assert set(served) == {"kty", "n", "e", "kid", "alg", "use"}


# -- verifying tokens ----------------------------------------------------------------------------------


class FakeCognito:
    """The two calls verification makes of the user pool: its one app client, CLIENT."""

    class exceptions:
        ResourceNotFoundException = type("ResourceNotFoundException", (Exception,), {})

    def describe_user_pool_client(self, UserPoolId: str, ClientId: str) -> dict[str, Any]:
        if ClientId != CLIENT:
            raise self.exceptions.ResourceNotFoundException(ClientId)
        return {"UserPoolClient": {"ClientId": CLIENT}}


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, auto_kid=True)


@pytest.fixture(scope="module")
def cognito(key: RSAKey) -> LocalCognito:
    local = LocalCognito(FakeCognito(), "us-east-1", "http://unused", key)
    keys = KeySet.import_key_set(public_jwks(key))
    local._keys = lambda pool_id: keys  # type: ignore[method-assign]
    return local


def good_claims(cognito: LocalCognito) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "ada",
        "iss": cognito.issuer(POOL),
        "client_id": CLIENT,
        "token_use": "access",
        "scope": "hub/requests.write",
        "exp": now + 60,
        "iat": now,
        "jti": "j-1",
    }


def test_a_token_with_every_claim_is_verified(cognito: LocalCognito) -> None:
    assert cognito.verify(cognito.sign(good_claims(cognito)), POOL)["sub"] == "ada"


@pytest.mark.parametrize("claim", sorted(REQUIRED_ACCESS_CLAIMS))
def test_a_token_missing_a_claim_is_refused(cognito: LocalCognito, claim: str) -> None:
    claims = good_claims(cognito)
    del claims[claim]

    with pytest.raises(AuthError) as refused:
        cognito.verify(cognito.sign(claims), POOL)
    assert refused.value.status == 401


# Values of the wrong kind for each claim: what a careless or hostile token carries.
_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=300),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@settings(max_examples=60, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(odd=st.dictionaries(st.sampled_from([*REQUIRED_ACCESS_CLAIMS, "username"]), _ODD_VALUES, min_size=1))
def test_a_token_with_malformed_claims_is_refused_or_verified_never_an_error(
    cognito: LocalCognito, odd: dict[str, Any]
) -> None:
    """Whatever the claims hold, verification answers with claims of the right kinds or AuthError (401)."""
    claims = {**good_claims(cognito), **odd}
    try:
        token = cognito.sign(claims)
    except (TypeError, ValueError):
        return  # not even JSON (a float the encoder refuses): no such token can exist
    refused: AuthError | None = None
    try:
        verified = cognito.verify(token, POOL)
    except AuthError as error:
        refused = error
    if refused is not None:
        assert refused.status == 401
        return
    for name, kind in REQUIRED_ACCESS_CLAIMS.items():
        assert isinstance(verified[name], kind)
        assert not isinstance(verified[name], bool)


@settings(max_examples=80, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    token=st.one_of(
        st.text(max_size=200),
        st.lists(st.text(alphabet="ABCDEFabcdef0123456789-_=+/", max_size=40), min_size=3, max_size=3).map(
            ".".join
        ),
    )
)
def test_a_token_that_is_not_a_jwt_is_refused(cognito: LocalCognito, token: str) -> None:
    with pytest.raises(AuthError):
        cognito.verify(token, POOL)


def test_a_token_signed_with_the_key_moto_ships_is_refused(cognito: LocalCognito) -> None:
    shipped = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    forged = jwt.encode({"alg": "RS256", "kid": "dummy"}, good_claims(cognito), shipped)

    with pytest.raises(AuthError):
        cognito.verify(forged, POOL)


# -- presigned POSTs ----------------------------------------------------------------------------------


def presigner(access_key: str = "local", secret: str = "local") -> Any:  # noqa: S107 - the local pair
    """An S3 client like the front door's (SigV4, a session token): presigning needs no network."""
    return boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        aws_session_token="local",
        config=Config(signature_version="s3v4"),
    )


def presigned_post(subject: str, expires: int = 60, **client: str) -> dict[str, Any]:
    """The form the front door hands a caller (front_door/upload_urls.py), for `datasets/<subject>/`."""
    post: dict[str, Any] = presigner(**client).generate_presigned_post(
        Bucket=LAKE,
        Key=f"datasets/{subject}/ds-1.jsonl",
        Fields={"Content-Type": "application/x-ndjson"},
        Conditions=[{"Content-Type": "application/x-ndjson"}, ["content-length-range", 1, 100]],
        ExpiresIn=expires,
    )
    return post


def send(fields: dict[str, str], content: bytes = b'{"text": "x"}\n', bucket: str = LAKE) -> Any:
    form = requests.Request(
        "POST", f"http://127.0.0.1:9/{bucket}", data=fields, files={"file": ("d.jsonl", content)}
    ).prepare()
    assert isinstance(form.body, bytes)
    return uploads.refusal(bucket, form.body, form.headers["Content-Type"], SECRETS)


def code(answer: Any) -> tuple[int, str]:
    status, _, body = answer
    return status, body.decode().split("<Code>")[1].split("</Code>")[0]


def test_an_upload_within_its_policy_is_let_through_to_be_stored() -> None:
    assert send(presigned_post("ada")["fields"]) is None


def test_one_caller_cannot_upload_into_another_callers_prefix() -> None:
    """Bob's form, with Ada's key put in: S3 checks the key against the signed policy."""
    fields = {**presigned_post("bob")["fields"], "key": "datasets/ada/ds-1.jsonl"}

    assert code(send(fields)) == (403, "AccessDenied")


def test_a_policy_rewritten_to_another_prefix_no_longer_matches_its_signature() -> None:
    bob = presigned_post("bob")["fields"]
    ada = presigned_post("ada")["fields"]
    forged = {**bob, "key": ada["key"], "policy": ada["policy"]}  # Ada's policy, Bob's signature

    assert code(send(forged)) == (403, "SignatureDoesNotMatch")


def test_an_upload_over_or_under_the_size_range_is_refused() -> None:
    fields = presigned_post("ada")["fields"]

    assert code(send(fields, b"x" * 101)) == (400, "EntityTooLarge")
    assert code(send(fields, b"")) == (400, "EntityTooSmall")


def test_an_expired_form_is_refused() -> None:
    fields = presigned_post("ada", expires=-1)["fields"]

    assert code(send(fields)) == (403, "AccessDenied")


def test_a_form_for_another_bucket_or_with_an_unsigned_field_is_refused() -> None:
    fields = presigned_post("ada")["fields"]

    assert code(send(fields, bucket="other-bucket")) == (403, "AccessDenied")
    assert code(send({**fields, "acl": "public-read"})) == (403, "AccessDenied")
    assert send({**fields, "x-ignore-note": "fine"}) is None


def test_a_form_signed_with_an_unknown_key_or_sigv2_is_refused() -> None:
    assert code(send(presigned_post("ada", access_key="stranger", secret="s")["fields"])) == (
        403,
        "AccessDenied",
    )
    v2 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    ).generate_presigned_post(Bucket=LAKE, Key="datasets/ada/ds-1.jsonl")
    assert code(send(v2["fields"])) == (400, "InvalidRequest")


def test_a_form_without_a_policy_or_a_file_is_refused() -> None:
    fields = presigned_post("ada")["fields"]
    no_policy = {name: value for name, value in fields.items() if name != "policy"}
    form = requests.Request("POST", "http://127.0.0.1:9/lake", data=fields, files={"other": ("a", b"x")})
    prepared = form.prepare()
    assert isinstance(prepared.body, bytes)

    assert code(send(no_policy)) == (403, "AccessDenied")
    assert code(uploads.refusal(LAKE, prepared.body, prepared.headers["Content-Type"], SECRETS)) == (
        400,
        "InvalidArgument",
    )


def test_the_policy_is_read_at_the_moment_of_the_upload() -> None:
    fields = presigned_post("ada", expires=60)["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    form = requests.Request(
        "POST", "http://127.0.0.1:9/lake", data=fields, files={"file": ("d", b"x")}
    ).prepare()
    assert isinstance(form.body, bytes)

    def at(moment: datetime) -> Any:
        assert isinstance(form.body, bytes)
        return uploads.refusal(LAKE, form.body, form.headers["Content-Type"], SECRETS, now=moment)

    assert at(expires - timedelta(seconds=1)) is None
    assert code(at(expires + timedelta(seconds=1))) == (403, "AccessDenied")
    assert datetime.now(UTC) < expires


# -- stopping ----------------------------------------------------------------------------------------

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:slow"


class HeldFunctions:
    """A function host whose invocations wait until released, then end as `outcome` says."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.outcome = "ok"

    def invoke(self, name_or_arn: str, payload: bytes) -> InvocationResult:
        self.started.set()
        self.release.wait(10)
        if self.outcome == "throttled":
            raise Throttled("the local cloud is stopping")
        if self.outcome == "killed":
            return InvocationResult(b'{"errorType": "Runtime.ExitError"}', "Unhandled")
        return InvocationResult(json.dumps({"statusCode": 200, "body": "{}"}).encode())


def local_api(functions: HeldFunctions) -> LocalApi:
    integration = {
        "uri": f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"
    }
    api = RestApiSpec(
        "Api", "api1", {"paths": {"/v1/things": {"get": {"x-amazon-apigateway-integration": integration}}}}
    )
    return LocalApi(
        api, StageSpec("prod"), functions, cognito=None, region="us-east-1", account_id="123456789012"
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("outcome", ["killed", "throttled"])
def test_a_call_in_flight_while_the_local_cloud_stops_is_503_with_retry_after(outcome: str) -> None:
    """Stopping kills the workers (a runtime exit) and refuses new invocations (a throttle): the
    caller is told to retry, not that it was throttled (429) or that the function failed (502)."""
    functions = HeldFunctions()
    functions.outcome = outcome
    api = local_api(functions)
    answers: list[Any] = []
    call = threading.Thread(target=lambda: answers.append(Client(api).get("/prod/v1/things")))
    call.start()
    assert functions.started.wait(10)

    api.begin_stopping()
    functions.release.set()
    call.join(10)

    (answer,) = answers
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert api.wait_idle(1)
    assert Client(api).get("/prod/v1/things").status_code == 503  # and so is every later call


def test_a_function_that_crashes_while_running_is_still_a_502() -> None:
    functions = HeldFunctions()
    functions.outcome = "killed"
    functions.release.set()

    assert Client(local_api(functions)).get("/prod/v1/things").status_code == 502
