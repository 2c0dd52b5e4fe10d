"""State that survives a restart: `agenthub local up` stopped and started again on one state folder.

Each test runs its own `local up` processes, as a developer would (Ctrl+C, then `local up` again).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from agenthub.client import TERMINAL, HubClient
from agenthub.local import local_client
from contracts.customization import dataset_key
from tests.e2e.conftest import subject_of
from tests.support.events import EVENTS, api_event

AGENTHUB = [sys.executable, "-m", "agenthub.cli"]


class LocalUp:
    """`agenthub local up` in a process of its own, on a state folder."""

    def __init__(self, state_dir: Path, *options: str) -> None:
        self.state_dir = state_dir
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [*AGENTHUB, "local", "up", "--port", "0", "--emulator-port", "0", *options],
            env={**os.environ, "AGENTHUB_STATE_DIR": str(state_dir)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not self.url:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                break
            self.lines.append(line)
            if line.startswith("ready: "):
                self.url = line.split("ready: ", 1)[1].strip()
        assert self.url, "local up never printed its ready line:\n" + "".join(self.lines)
        self.info: dict[str, Any] = json.loads((state_dir / "local.json").read_text())

    def said(self, start: str) -> str:
        return next((line.strip() for line in self.lines if line.startswith(start)), "")

    def aws(self, service: str) -> Any:
        return local_client(service, self.info["region"], self.info["endpoint_url"])

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.interrupt()
        code = self.process.wait(60)
        assert self.process.stdout is not None
        self.lines.extend(self.process.stdout.readlines())
        return code


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def token(state_dir: Path, user: str) -> str:
    result = subprocess.run(
        [*AGENTHUB, "local", "token", "--user", user],
        env={**os.environ, "AGENTHUB_STATE_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_a_dataset_and_a_user_created_before_a_restart_are_still_there(state_dir: Path) -> None:
    # Given a user, and a dataset they uploaded, in a local cloud that is then stopped
    first = LocalUp(state_dir)
    try:
        access = token(state_dir, "ada")
        ada = HubClient(first.url, access)
        upload = ada.post("/v1/datasets", {})
        assert upload.status == 201, upload.body
        form = upload.body["upload"]
        sent = requests.post(
            form["url"],
            data=form["fields"],
            files={form["file_field"]: (EVENTS / "customization/sft_dataset.jsonl").read_bytes()},
            timeout=30,
        )
        assert sent.status_code in (200, 201, 204), sent.text
        sub, pool = subject_of(ada), first.info["user_pool_id"]
    finally:
        assert first.stop() == 0, "".join(first.lines)
    assert first.said("state: saved to")

    # When it starts again on the same state folder
    second = LocalUp(state_dir)
    try:
        # Then the user, the dataset and the token issued before the restart are all still good
        assert second.said("state: restored from"), "".join(second.lines)
        assert second.info["user_pool_id"] == pool
        user = second.aws("cognito-idp").admin_get_user(UserPoolId=pool, Username="ada")
        assert {"Name": "sub", "Value": sub} in user["UserAttributes"]
        lake = second.info["outputs"]["DataLakeBucket"]
        dataset_id = upload.body["dataset_id"]
        second.aws("s3").head_object(Bucket=lake, Key=dataset_key(sub, dataset_id))
        again = HubClient(second.url, access)
        accepted = again.submit(
            {
                "pipeline": "customize",
                "input": {
                    "method": "sft",
                    "technique": "lora",
                    "base_model": "amazon.nova-lite-v1:0",
                    "dataset_id": dataset_id,
                    "output_model_name": "kept-overnight",
                },
            }
        )
        assert accepted.status == 202, accepted.body
        request_id = accepted.body["request_id"]
        assert again.wait(request_id, timeout=120)["status"] == "SUCCEEDED"
    finally:
        assert second.stop() == 0, "".join(second.lines)

    # And `local invoke` with no local cloud running starts one on the same state to answer
    read = api_event("front_door/get_request.json", subject=sub, path_parameters={"request_id": request_id})
    invoked = subprocess.run(
        [*AGENTHUB, "local", "invoke", "FrontDoorFunction", "-e", "-"],
        env={**os.environ, "AGENTHUB_STATE_DIR": str(state_dir)},
        input=json.dumps(read),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert invoked.returncode == 0, invoked.stderr
    assert "starting one for this call" in invoked.stderr
    response = json.loads(invoked.stdout)
    assert json.loads(response["body"])["status"] == "SUCCEEDED"

    # And `local reset` wipes it all
    reset = subprocess.run(
        [*AGENTHUB, "local", "reset"],
        env={**os.environ, "AGENTHUB_STATE_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert reset.returncode == 0, reset.stderr
    assert not (state_dir / "saved").exists()


def test_every_request_accepted_before_a_stop_mid_burst_ends_after_the_start(state_dir: Path) -> None:
    # Given a burst of requests under way
    first = LocalUp(state_dir)
    access = token(state_dir, "bursty")
    accepted: list[str] = []
    refused: list[int] = []
    changed = threading.Condition()  # an answer has come
    stopping = threading.Event()

    def send(sender: int) -> None:
        client = HubClient(first.url, access)
        for n in range(100):
            if stopping.is_set():
                return
            pipeline = ("preprocess", "invoke")[n % 2]
            request_input = (
                {"text": f"burst {sender}-{n}"} if pipeline == "preprocess" else {"prompt": f"{n}?"}
            )
            try:
                reply = client.submit({"pipeline": pipeline, "input": request_input}, f"burst-{sender}-{n}")
            except requests.RequestException:
                return  # the local cloud has gone
            with changed:
                if reply.status == 202:
                    accepted.append(reply.body["request_id"])
                else:
                    refused.append(reply.status)
                changed.notify_all()

    senders = [threading.Thread(target=send, args=(sender,)) for sender in range(4)]
    for thread in senders:
        thread.start()
    with changed:
        changed.wait_for(lambda: len(accepted) >= 8, timeout=60)

    # When the local cloud is stopped in the middle of it, and started again
    first.interrupt()
    code = first.stop()
    stopping.set()
    for thread in senders:
        thread.join(30)
    assert code == 0, "".join(first.lines)
    assert len(accepted) >= 8
    second = LocalUp(state_dir)
    try:
        # Then every request that was accepted reaches a terminal state, read with the same token
        client = HubClient(second.url, access)
        ended = {request_id: client.wait(request_id, timeout=180)["status"] for request_id in accepted}
        assert set(ended.values()) <= set(TERMINAL)
        # and none failed for it: what was in flight was delivered (or run) again
        assert set(ended.values()) == {"SUCCEEDED"}, ended
        assert all(status in (429, 500, 502, 503) for status in refused), refused
    finally:
        assert second.stop() == 0, "".join(second.lines)
