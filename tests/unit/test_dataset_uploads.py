"""The front door's dataset lookups, as S3 answers them to a role that may read but not list the lake."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from front_door.upload_urls import DatasetUploads


@pytest.mark.parametrize("status", [403, 404])
def test_a_dataset_s3_will_not_show_is_not_uploaded(status: int) -> None:
    """Without s3:ListBucket (which the front door is not given), S3 answers a missing key with 403."""
    s3 = boto3.client("s3", region_name="us-east-1")
    uploads = DatasetUploads("lake", s3, max_bytes=1024, expires_seconds=60)
    with Stubber(s3) as stub:
        stub.add_client_error("head_object", service_error_code=str(status), http_status_code=status)

        assert uploads.exists("caller", "ds-1") is False


def test_a_throttled_lookup_is_not_taken_for_a_missing_dataset() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    uploads = DatasetUploads("lake", s3, max_bytes=1024, expires_seconds=60)
    with Stubber(s3) as stub:
        stub.add_client_error("head_object", service_error_code="SlowDown", http_status_code=503)

        with pytest.raises(ClientError):
            uploads.exists("caller", "ds-1")
