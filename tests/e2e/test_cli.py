"""`agenthub local up` and `agenthub local token` as a developer runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from agenthub.local.invoke import LocalCloudClient

AGENTHUB = [sys.executable, "-m", "agenthub.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def run(args: list[str], state_dir: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTHUB_STATE_DIR": str(state_dir)}
    return subprocess.run(
        [*AGENTHUB, *args], env=env, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )  # type: ignore[call-overload, no-any-return]


@pytest.fixture
def local_up(state_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    yield from _local_up(state_dir)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One local cloud for the tests that only need one running (each start costs a deploy)."""
    state = tmp_path_factory.mktemp("running") / "state"
    for _, url in _local_up(state):
        yield url, state


def _local_up(state_dir: Path, *overrides: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "AGENTHUB_STATE_DIR": str(state_dir)}
    extra = ["--parameter-overrides", *overrides] if overrides else []
    process = subprocess.Popen(
        [*AGENTHUB, "local", "up", "--port", str(free_port()), "--emulator-port", "0", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    url = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("ready: "):
            url = line.split("ready: ", 1)[1].strip()
            break
        if not line and process.poll() is not None:
            break
    assert url, "agenthub local up never printed its ready line"
    yield process, url
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def test_local_up_prints_ready_writes_its_state_and_serves_tokens(
    local_up: tuple[subprocess.Popen[str], str], state_dir: Path
) -> None:
    process, url = local_up
    info = json.loads((state_dir / "local.json").read_text())

    token = run(["local", "token", "--user", "grace"], state_dir)
    response = requests.post(
        f"{url}/v1/requests",
        json={"pipeline": "preprocess", "input": {"text": "from the command line"}},
        headers={"Authorization": f"Bearer {token.stdout.strip()}", "Idempotency-Key": "cli-1"},
        timeout=30,
    )

    assert info["api_url"] == url
    assert set(info) >= {"endpoint_url", "region", "user_pool_id", "user_pool_client_id", "outputs"}
    assert info["outputs"]["AgentCoreTopic"].startswith("arn:aws:sns:")
    assert token.returncode == 0, token.stderr
    assert response.status_code == 202
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    assert not (state_dir / "local.json").exists()


def test_a_token_for_a_reader_has_only_the_read_scope(running: tuple[str, Path]) -> None:
    url, state_dir = running
    token = run(
        ["local", "token", "--user", "reader", "--scope", "hub/requests.read"], state_dir
    ).stdout.strip()

    response = requests.post(
        f"{url}/v1/requests",
        json={"pipeline": "preprocess", "input": {"text": "x"}},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "cli-2"},
        timeout=30,
    )

    assert response.status_code == 403


def test_a_second_local_cloud_on_the_same_state_is_refused(running: tuple[str, Path]) -> None:
    _, state_dir = running
    result = run(["local", "up", "--port", str(free_port())], state_dir)

    assert result.returncode == 2
    assert "a local cloud is already running" in result.stderr
    assert "AGENTHUB_STATE_DIR" in result.stderr


def test_a_busy_port_is_a_clear_error(state_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        result = run(["local", "up", "--port", str(port)], state_dir)

    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


def test_a_token_without_a_running_local_cloud_says_how_to_start_one(state_dir: Path) -> None:
    result = run(["local", "token"], state_dir)

    assert result.returncode == 1
    assert "agenthub local up" in result.stderr


@pytest.fixture
def throttled(state_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    yield from _local_up(state_dir, "ApiThrottleRateLimit=1", "ApiThrottleBurstLimit=2")


def test_a_burst_above_the_stage_throttle_is_429_and_leaves_nothing_behind(
    throttled: tuple[subprocess.Popen[str], str], state_dir: Path
) -> None:
    _, url = throttled
    token = run(["local", "token", "--user", "bursty"], state_dir).stdout.strip()
    info = json.loads((state_dir / "local.json").read_text())
    # The bucket full (its burst of 2) and its refill held, however slowly a loaded machine sends.
    held = requests.post(
        f"{info['endpoint_url']}/_agenthub/throttle", json={"refill": True, "hold": True}, timeout=10
    )
    assert held.json() == {"rate": 1.0, "burst": 2, "tokens": 2.0, "held": True}
    together = threading.Barrier(6)

    def send(n: int) -> requests.Response:
        together.wait()  # all six arrive within the same second, however loaded the machine is
        return requests.post(
            f"{url}/v1/requests",
            json={"pipeline": "preprocess", "input": {"text": f"burst {n}"}},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"burst-{n}"},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(send, range(6)))

    codes = sorted(response.status_code for response in responses)
    assert codes == [202, 202, 429, 429, 429, 429]
    assert all(
        response.headers["Retry-After"] == "1" for response in responses if response.status_code == 429
    )
    admitted = sorted(
        json.dumps({"text": f"burst {n}", "chunk_tokens": 800}, separators=(",", ":"))
        for n, response in enumerate(responses)
        if response.status_code == 202
    )
    assert stored_inputs(state_dir) == admitted


def stored_inputs(state_dir: Path) -> list[str]:
    """The inputs of every request in the local catalog, once the local cloud is quiet."""
    import boto3

    info = json.loads((state_dir / "local.json").read_text())
    LocalCloudClient(info).wait_quiet(60)
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=info["endpoint_url"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    rows = dynamodb.scan(TableName=info["outputs"]["CatalogTable"])["Items"]
    return sorted(
        json.loads(row["body"]["S"])["input"]["inline"]
        for row in rows
        if row["pk"]["S"].startswith("REQUEST#")
    )


def test_an_api_call_in_flight_when_local_up_is_stopped_gets_503_with_retry_after(
    local_up: tuple[subprocess.Popen[str], str], state_dir: Path
) -> None:
    """Ctrl-C while a call is on its way to the front door: the caller is told to retry, not that it
    was throttled (429) or that the function failed (502). The call is held on its way in by a fault
    rule that delays the front door's invocation."""
    process, url = local_up
    info = json.loads((state_dir / "local.json").read_text())
    token = run(["local", "token", "--user", "stopper"], state_dir).stdout.strip()
    faults = f"{info['endpoint_url']}/_agenthub/faults"
    rule = {"operation": "Invoke", "function": "FrontDoorFunction", "delay_seconds": 2}
    assert requests.post(faults, json=rule, timeout=10).status_code == 201
    answers: list[requests.Response] = []

    def send() -> None:
        answers.append(
            requests.post(
                f"{url}/v1/requests",
                json={"pipeline": "preprocess", "input": {"text": "caught by the stop"}},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "stop-1"},
                timeout=30,
            )
        )

    call = threading.Thread(target=send)
    call.start()
    LocalCloudClient(info).wait_for(
        lambda: requests.get(faults, timeout=10).json()[0]["hits"], 30, "the call reaching the front door"
    )
    process.send_signal(signal.SIGINT)
    call.join(30)

    (answer,) = answers
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert process.wait(30) == 0


def run_into_a_closed_pipe(args: list[str], state_dir: Path) -> subprocess.CompletedProcess[str]:
    """`agenthub ARGS | head`, with the reader gone before the first write (as `head -0` is)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "AGENTHUB_STATE_DIR": str(state_dir)}
    try:
        result = subprocess.run(
            [*AGENTHUB, *args],
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    return subprocess.CompletedProcess(result.args, result.returncode, "", result.stderr)


@pytest.mark.parametrize(
    ("args", "exit_status"),
    [
        (["--help"], 0),  # argparse itself lets a failed write of its help pass
        (["openapi", "-"], 141),  # 141: as a shell reports a tool SIGPIPE ended
        (["template", "translate"], 141),
        (["local", "reset", "--json"], 141),
        (["local", "token"], 141),
    ],
)
def test_output_into_a_pipe_whose_reader_has_gone_ends_quietly(
    args: list[str], exit_status: int, running: tuple[str, Path], tmp_path: Path
) -> None:
    _, state_dir = running
    # `local reset` on a folder of its own (the running cloud's would be refused).
    result = run_into_a_closed_pipe(args, tmp_path if args[:2] == ["local", "reset"] else state_dir)

    assert result.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored"
    assert result.returncode == exit_status


def test_local_reset_says_what_it_removed_as_json(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    (state_dir / "local-secret").write_text("x")

    removed = run(["local", "reset", "--json"], state_dir)
    again = run(["local", "reset", "--json"], state_dir)

    assert removed.returncode == 0, removed.stderr
    assert json.loads(removed.stdout) == {
        "state_dir": str(state_dir),
        "removed": [str(state_dir / "local-secret")],
    }
    assert json.loads(again.stdout)["removed"] == []
    assert not (state_dir / "local-secret").exists()
