"""Dataset uploads for customization: presigned S3 POSTs under the caller's own prefix.

A presigned POST (rather than PUT) lets S3 itself refuse an upload over the size limit. The key
is built from the caller's sub, so a customization request can only ever name the caller's own
datasets.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from contracts.customization import dataset_key
from shared.aws import object_missing

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CONTENT_TYPE = "application/x-ndjson"


class DatasetUploads:
    def __init__(self, bucket: str, s3: S3Client, max_bytes: int, expires_seconds: int) -> None:
        self._bucket = bucket
        self._s3 = s3
        self._max_bytes = max_bytes
        self._expires_seconds = expires_seconds

    def new_upload(self, subject: str) -> dict[str, Any]:
        dataset_id = f"ds-{uuid.uuid4().hex}"
        post = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=dataset_key(subject, dataset_id),
            Fields={"Content-Type": CONTENT_TYPE},
            Conditions=[{"Content-Type": CONTENT_TYPE}, ["content-length-range", 1, self._max_bytes]],
            ExpiresIn=self._expires_seconds,
        )
        return {
            "dataset_id": dataset_id,
            "upload": {"url": post["url"], "fields": post["fields"], "method": "POST", "file_field": "file"},
            "expires_in": self._expires_seconds,
            "max_bytes": self._max_bytes,
            "format": "JSON Lines, one record per line, in the record schema of the customization method",
        }

    def exists(self, subject: str, dataset_id: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=dataset_key(subject, dataset_id))
        except ClientError as error:
            if object_missing(error):
                return False
            raise
        return True
