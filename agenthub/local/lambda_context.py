"""The context object Lambda hands a Python handler: one class for the local cloud's workers and the tests."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LambdaContext:
    function_name: str
    invoked_function_arn: str
    deadline: float  # time.time() when the invocation times out
    memory_limit_in_mb: int = 128
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None

    @classmethod
    def in_worker(cls, request_id: str, deadline: float) -> LambdaContext:
        """The context inside a local execution environment, from the variables Lambda sets."""
        return cls(
            function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"],
            invoked_function_arn=os.environ["AGENTHUB_FUNCTION_ARN"],
            deadline=deadline,
            memory_limit_in_mb=int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
            aws_request_id=request_id,
            function_version=os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            log_group_name=os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
            log_stream_name=os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
        )

    @classmethod
    def starting_now(
        cls, function_name: str = "test-function", timeout_seconds: float = 10, region: str = "us-east-1"
    ) -> LambdaContext:
        """A context for an invocation that starts now, outside a worker (tests, `local invoke`)."""
        return cls(
            function_name=function_name,
            invoked_function_arn=f"arn:aws:lambda:{region}:123456789012:function:{function_name}",
            deadline=time.time() + timeout_seconds,
            log_group_name=f"/aws/lambda/{function_name}",
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))
