"""The local cloud's function host: real worker processes, one function's environment each."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agenthub.local.deploy import FunctionSpec
from agenthub.local.functions import FunctionHost, InvocationResult, Throttled
from tests.support.waiting import wait_until

CODE = Path(__file__).resolve().parent.parent / "fixtures" / "functions"


def spec(
    name: str, handler: str, environment: dict[str, str], timeout: int = 5, reserved: int | None = None
) -> FunctionSpec:
    return FunctionSpec(
        logical_id=name,
        name=f"stack-{name}",
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:stack-{name}",
        handler=handler,
        runtime="python3.13",
        code_dir=CODE,
        timeout=timeout,
        memory=256,
        environment=environment,
        role_arn="arn:aws:iam::123456789012:role/probe",
        reserved_concurrency=reserved,
    )


@pytest.fixture
def host(tmp_path: Path) -> Iterator[FunctionHost]:
    functions = {
        "First": spec("First", "probe.environment", {"ONLY_FIRST": "1", "SHARED": "first"}),
        "Second": spec("Second", "probe.environment", {"ONLY_SECOND": "2", "SHARED": "second"}),
        "Sleeper": spec("Sleeper", "probe.sleep", {}, timeout=1),
        "Reserved": spec("Reserved", "probe.sleep", {}, timeout=2, reserved=1),
        "Failer": spec("Failer", "probe.fail", {}),
        "Crasher": spec("Crasher", "probe.exit_process", {}),
    }
    host = FunctionHost(functions, "us-east-1", "http://127.0.0.1:1", tmp_path, concurrency=1)
    yield host
    host.stop()


def call(host: FunctionHost, name: str, event: object = None) -> dict[str, object]:
    result = host.invoke(f"stack-{name}", json.dumps(event or {}).encode())
    body: dict[str, object] = json.loads(result.payload)
    return {"error": result.function_error, **body}


def test_each_function_sees_exactly_its_own_environment(host: FunctionHost) -> None:
    first = call(host, "First")["environment"]
    second = call(host, "Second")["environment"]

    assert isinstance(first, dict)
    assert isinstance(second, dict)
    assert (first["SHARED"], second["SHARED"]) == ("first", "second")
    assert "ONLY_SECOND" not in first
    assert "ONLY_FIRST" not in second
    assert first["AWS_LAMBDA_FUNCTION_NAME"] == "stack-First"
    assert first["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    # Nothing of the host's own environment leaks in beyond what Lambda itself provides.
    lambda_provided = {
        "PATH", "LANG", "TZ", "PYTHONPATH", "PYTHONUNBUFFERED", "LAMBDA_TASK_ROOT", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL", "AGENTHUB_FUNCTION_ARN", "_X_AMZN_TRACE_ID", "LC_CTYPE",
    }  # fmt: skip
    assert set(first) - lambda_provided == {"ONLY_FIRST", "SHARED"}


def test_a_warm_environment_serves_the_next_invocation(host: FunctionHost) -> None:
    first = call(host, "First")
    again = call(host, "First")

    assert first["pid"] == again["pid"]
    assert host.pool("stack-First").cold_starts == 1


def test_the_handler_gets_its_remaining_time(host: FunctionHost) -> None:
    remaining = call(host, "First")["remaining_ms"]

    assert isinstance(remaining, int)
    assert 0 < remaining <= 5000


def test_a_raised_exception_is_an_unhandled_function_error(host: FunctionHost) -> None:
    result = call(host, "Failer")

    assert result["error"] == "Unhandled"
    assert result["errorType"] == "ProbeFailed"
    assert result["errorMessage"] == "the probe failed on purpose"


def test_a_timeout_kills_the_environment_and_reports_sandbox_timedout(host: FunctionHost) -> None:
    result = call(host, "Sleeper", {"seconds": 3})

    assert result["error"] == "Unhandled"
    assert result["errorType"] == "Sandbox.Timedout"
    assert call(host, "Sleeper", {"seconds": 0})["slept"] == 0
    assert host.pool("stack-Sleeper").cold_starts == 2


def test_a_crashed_runtime_is_reported_and_replaced(host: FunctionHost) -> None:
    result = call(host, "Crasher")

    assert result["error"] == "Unhandled"
    assert result["errorType"] == "Runtime.ExitError"


def hold(host: FunctionHost, name: str, seconds: float) -> threading.Thread:
    """Occupies the function's only environment for a while."""
    host.pool(f"stack-{name}").warm()
    busy = threading.Thread(target=call, args=(host, name, {"seconds": seconds}))
    busy.start()
    for _ in range(100):
        if host.pool(f"stack-{name}")._busy:
            break
        threading.Event().wait(0.02)
    return busy


def test_invocations_beyond_reserved_concurrency_are_throttled(host: FunctionHost) -> None:
    busy = hold(host, "Reserved", 0.8)
    try:
        with pytest.raises(Throttled):
            host.invoke("stack-Reserved", b'{"seconds": 0}')
    finally:
        busy.join()


def test_without_reserved_concurrency_an_invocation_waits_for_a_free_environment(host: FunctionHost) -> None:
    busy = hold(host, "Sleeper", 0.5)
    try:
        assert call(host, "Sleeper", {"seconds": 0})["slept"] == 0
    finally:
        busy.join()


def test_stopping_ends_an_invocation_in_flight_and_refuses_new_ones(tmp_path: Path) -> None:
    host = FunctionHost(
        {"Slow": spec("Slow", "probe.sleep", {}, timeout=60)}, "us-east-1", "http://127.0.0.1:1", tmp_path
    )
    results: list[InvocationResult] = []
    host.pool("stack-Slow").warm()
    in_flight = threading.Thread(target=lambda: results.append(host.invoke("stack-Slow", b'{"seconds": 50}')))
    in_flight.start()
    pool = host.pool("stack-Slow")
    wait_until(lambda: pool.running == 1, 30, what="the warm environment taking the invocation")

    host.stop()
    in_flight.join(timeout=10)

    assert not in_flight.is_alive()
    (result,) = results
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "Runtime.ExitError"
    with pytest.raises(Throttled, match="the local cloud is stopping"):
        host.invoke("stack-Slow", b'{"seconds": 0}')


def test_an_invocation_carries_its_own_log_from_start_to_report(host: FunctionHost) -> None:
    first = host.invoke("stack-Failer", b"{}")
    second = host.invoke("stack-Failer", b"{}")

    lines = first.log.splitlines()
    assert lines[0] == f"START RequestId: {first.request_id} Version: $LATEST"
    assert "the probe failed on purpose" in first.log
    assert lines[-2] == f"END RequestId: {first.request_id}"
    assert lines[-1].startswith(f"REPORT RequestId: {first.request_id}\tDuration: ")
    assert "Init Duration" in lines[-1]  # reported once, with the first invocation
    assert first.request_id != second.request_id
    assert first.request_id not in second.log
    assert "Init Duration" not in second.log


def test_overridden_variables_run_in_an_environment_of_their_own(host: FunctionHost) -> None:
    apart = host.invoke("stack-First", b"{}", {"SHARED": "overridden"})
    warm = call(host, "First")

    environment = json.loads(apart.payload)["environment"]
    assert environment["SHARED"] == "overridden"
    assert environment["ONLY_FIRST"] == "1"
    assert warm["environment"]["SHARED"] == "first"  # type: ignore[index]
    with pytest.raises(ValueError, match="no variables NOT_DECLARED in the template"):
        host.invoke("stack-First", b"{}", {"NOT_DECLARED": "x"})
