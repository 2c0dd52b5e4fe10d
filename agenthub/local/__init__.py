"""The local cloud: the whole hub on one machine, from the real template, handlers and state machines."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# The emulator takes any credentials; these say what they are, so nobody mistakes them for real ones.
LOCAL_ACCESS_KEY = "local"
# The local cloud's own clients are shared by its pollers and servers' threads.
_CONFIG = Config(max_pool_connections=64, retries={"mode": "standard"})


def local_client(service: str, region: str, endpoint_url: str) -> Any:
    """A boto3 client for the local cloud's emulator."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_ACCESS_KEY,
        config=_CONFIG,
    )
