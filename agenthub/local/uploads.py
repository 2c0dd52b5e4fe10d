"""S3 POST uploads (presigned POSTs), with their policy enforced as S3 enforces it.

moto stores whatever a POST to a bucket carries: it reads neither the policy nor the signature.
The front door hands out presigned POSTs that confine a caller to their own key under
`datasets/<sub>/` and to `DatasetMaxBytes`; without this check the local cloud would let any
caller upload anywhere, and no test could show that the confinement works. Before moto sees an
upload, the emulator checks it here, the way S3 documents it
(https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html and
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html):

- the signature: SigV4 over the base64 policy, recomputed with botocore's own signer from the
  secret of the access key the form names (the local cloud's credentials are known to it); a
  SigV2 form is refused, as every bucket created since June 24, 2020 refuses it
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingAWSSDK.html#UsingAWSSDK-sig2-deprecation);
- the policy's expiration;
- every condition (exact match, `eq`, `starts-with`, `content-length-range`), with the bucket
  taken from the URL and the size from the file;
- no form field the policy does not name (`x-ignore-*`, `file`, `policy` and the signature
  excepted), as S3 refuses "extra input fields".

Only path-style URLs (`http://127.0.0.1:<port>/<bucket>`) are recognised: the emulator's endpoint
is an address, so botocore presigns path-style for it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

_BUCKET_PATH = re.compile(r"^/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/?$")
_CREDENTIAL = re.compile(r"^([^/]+)/(\d{8})/([^/]+)/s3/aws4_request$")
_ALGORITHM = "AWS4-HMAC-SHA256"
# Fields S3 does not require the policy to name.
_UNCHECKED_FIELDS = {"x-amz-signature", "file", "policy"}
FILE_FIELD = "file"

Response = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Refusal:
    """An upload S3 would refuse: its status, error code and message, as S3's XML error answers them."""

    status: int
    code: str
    message: str

    def response(self) -> Response:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message></Error>"
        )
        return self.status, {"Content-Type": "application/xml"}, body.encode()


def _denied(message: str) -> Refusal:
    return Refusal(403, "AccessDenied", message)


def _policy_failed(condition: Any) -> Refusal:
    return _denied(f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}")


def upload_bucket(method: str, path: str, content_type: str) -> str | None:
    """The bucket a request uploads to with a POST form, or None when it is no such request."""
    if method != "POST" or not content_type.lower().startswith("multipart/form-data"):
        return None
    found = _BUCKET_PATH.match(path)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Upload:
    bucket: str
    fields: dict[str, str]  # by lower-cased name, as S3 matches form fields to conditions
    size: int
    filename: str


def parse_upload(bucket: str, body: bytes, content_type: str) -> Upload | Refusal:
    mimetype, options = parse_options_header(content_type)
    form: MultiDict[str, str]
    files: MultiDict[str, FileStorage]
    _, form, files = FormDataParser().parse(io.BytesIO(body), mimetype, len(body), options)
    upload = files.get(FILE_FIELD)
    if upload is None:
        return Refusal(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    size = len(upload.read())
    fields = {name.lower(): value for name, value in form.items(multi=False)}
    return Upload(bucket, fields, size, upload.filename or "")


def check_upload(upload: Upload, secrets: Mapping[str, str], now: datetime | None = None) -> Refusal | None:
    """Why S3 would refuse this upload, or None when it would store it."""
    fields = upload.fields
    if "key" not in fields:
        return Refusal(400, "InvalidArgument", "Bucket POST must contain a field named 'key'.")
    if "awsaccesskeyid" in fields or "signature" in fields:
        # A SigV2 form (botocore's default for presigning), which no bucket made since June 2020 takes.
        return Refusal(
            400,
            "InvalidRequest",
            f"The authorization mechanism you have provided is not supported. Please use {_ALGORITHM}.",
        )
    if "policy" not in fields or "x-amz-signature" not in fields:
        # Without a policy the POST is anonymous: only a bucket open to the world takes it.
        return _denied("Access Denied")
    signed = _check_signature(fields, secrets)
    if signed is not None:
        return signed
    try:
        policy = json.loads(base64.b64decode(fields["policy"], validate=True))
        expiration = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
        conditions = list(policy["conditions"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    if expiration <= (now or datetime.now(UTC)):
        return _denied("Invalid according to Policy: Policy expired.")
    values = {**fields, "bucket": upload.bucket, "key": fields["key"].replace("${filename}", upload.filename)}
    named: set[str] = set()
    for condition in conditions:
        refused = _check_condition(condition, values, upload.size, named)
        if refused is not None:
            return refused
    extra = sorted(
        name
        for name in fields
        if name not in named and name not in _UNCHECKED_FIELDS and not name.startswith("x-ignore-")
    )
    if extra:
        return _denied(f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")
    return None


def _check_signature(fields: dict[str, str], secrets: Mapping[str, str]) -> Refusal | None:
    if fields.get("x-amz-algorithm") != _ALGORITHM:
        return Refusal(400, "InvalidArgument", f"Only {_ALGORITHM} POST signatures are supported here.")
    credential = _CREDENTIAL.match(fields.get("x-amz-credential", ""))
    stamp = fields.get("x-amz-date", "")
    if credential is None or not stamp.startswith(credential.group(2)):
        return Refusal(
            400, "AuthorizationQueryParametersError", "x-amz-credential or x-amz-date is malformed."
        )
    access_key, _, region = credential.groups()
    secret = secrets.get(access_key)
    if secret is None:
        return _denied("The AWS Access Key Id you provided does not exist in our records.")
    # botocore's own SigV4 signer, given the timestamp the form claims, signs the policy as the
    # form's maker did: the same signature, or the form was not made with this key.
    request = AWSRequest()
    request.context["timestamp"] = stamp
    expected = SigV4Auth(Credentials(access_key, secret), "s3", region).signature(fields["policy"], request)
    if not hmac.compare_digest(str(expected), fields["x-amz-signature"]):
        return Refusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    return None


def _check_condition(condition: Any, values: dict[str, str], size: int, named: set[str]) -> Refusal | None:
    if isinstance(condition, dict) and len(condition) == 1:
        ((name, expected),) = condition.items()
        named.add(str(name).lower())
        return None if values.get(str(name).lower()) == expected else _policy_failed(condition)
    if not isinstance(condition, list) or len(condition) != 3:
        return Refusal(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition {condition!r}.")
    operator, first, second = condition
    if operator == "content-length-range":
        try:
            low, high = int(first), int(second)
        except (TypeError, ValueError):
            return Refusal(400, "InvalidPolicyDocument", "Invalid Policy: content-length-range.")
        if size > high:
            return Refusal(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        if size < low:
            return Refusal(
                400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
            )
        return None
    if operator not in ("eq", "starts-with") or not isinstance(first, str) or not first.startswith("$"):
        return Refusal(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition {condition!r}.")
    name = first[1:].lower()
    named.add(name)
    value = values.get(name)
    if value is None:
        return _policy_failed(condition)
    matches = value == second if operator == "eq" else value.startswith(str(second))
    return None if matches else _policy_failed(condition)


def refusal(
    bucket: str, body: bytes, content_type: str, secrets: Mapping[str, str], now: datetime | None = None
) -> Response | None:
    """The emulator's answer to an upload S3 would refuse; None lets it through to moto."""
    parsed = parse_upload(bucket, body, content_type)
    if isinstance(parsed, Refusal):
        return parsed.response()
    refused = check_upload(parsed, secrets, now)
    return refused.response() if refused else None
