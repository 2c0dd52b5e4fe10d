"""Injects AWS errors into a boto3 client's calls, the way a throttled or failing service answers.

The error is raised from botocore's `before-parameter-build` hook, before the request is sent, so the code
under test sees what a real failed call looks like (a ClientError carrying the service's error
code and HTTP status, or the exception botocore raises when the network fails). botocore's retries
do not see it: each injected failure stands for a call that still failed after its retries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError


@dataclass
class FailingCalls:
    operation: str
    code: str | Exception
    times: int | None
    when: Callable[[dict[str, Any]], bool] | None
    calls: int = 0
    failures: int = 0


@contextmanager
def failing(
    client: Any,
    operation: str,
    code: str | Exception,
    *,
    status: int = 400,
    times: int | None = None,
    when: Callable[[dict[str, Any]], bool] | None = None,
) -> Iterator[FailingCalls]:
    """Makes `client.<operation>` fail with `code` (a service's error code, answered with HTTP
    `status`, or an exception such as botocore's EndpointConnectionError, raised as it is): always,
    or the first `times` matching calls.

    `when` receives the call's API parameters and picks which calls fail.
    """
    fault = FailingCalls(operation, code, times, when)
    service_id = client.meta.service_model.service_id.hyphenize()
    event = f"before-parameter-build.{service_id}.{operation}"

    def raise_fault(params: dict[str, Any], **_: Any) -> None:
        fault.calls += 1
        if fault.when is not None and not fault.when(params):
            return
        if fault.times is not None and fault.failures >= fault.times:
            return
        fault.failures += 1
        if isinstance(code, Exception):
            raise code
        raise ClientError(
            {
                "Error": {"Code": code, "Message": f"injected {code} on {service_id} {operation}"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            operation,
        )

    client.meta.events.register(event, raise_fault)
    try:
        yield fault
    finally:
        client.meta.events.unregister(event, raise_fault)
