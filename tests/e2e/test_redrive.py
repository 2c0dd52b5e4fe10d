"""`agenthub redrive` against the local cloud: dead-lettered work, moved back, completes exactly once.

docs/reliability.md case 20 (its redrive).
"""

from __future__ import annotations

import json
import uuid

import pytest

from agenthub import cli
from tests.e2e.conftest import Hub


def waiting(hub: Hub, queue: str) -> int:
    attributes = hub.aws("sqs").get_queue_attributes(
        QueueUrl=hub.ref(queue), AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_agenthub_redrive_moves_dead_lettered_work_back_and_it_completes_exactly_once(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The preprocess trigger crashes on a request's message as often as its queue allows, so the
    message is dead-lettered and the request never starts; `agenthub redrive PreprocessSubscriber`
    moves it back, and the request then runs once: one execution, one of each event."""
    word = f"redrive-cli-{uuid.uuid4().hex[:8]}"
    hub.fault(
        operation="Invoke",
        function="PreprocessTriggerFunction",
        match=word,
        error="Runtime.ExitError",
        times=3,
    )
    client = hub.client("redrive-cli")
    request_id = client.submit(
        {"pipeline": "preprocess", "input": {"text": f"a document about {word}"}}
    ).body["request_id"]
    hub.wait_until(
        lambda: waiting(hub, "PreprocessSubscriber.DeadLetterQueue") > 0,
        "the request's message reaching the dead-letter queue",
    )
    stuck = client.get(request_id).body
    monkeypatch.setenv("AGENTHUB_STATE_DIR", str(hub.state_dir))

    exit_status = cli.main(["redrive", "PreprocessSubscriber"])
    view = client.wait(request_id, timeout=60)

    assert stuck["status"] == "ACCEPTED"  # dead-lettered before its pipeline began
    assert exit_status == 0
    assert "moved back, completed" in capsys.readouterr().out
    assert view["status"] == "SUCCEEDED"
    events = [entry["event_type"] for entry in view["history"]]
    assert sorted(events) == ["preprocess.completed", "preprocess.started", "request.accepted"]
    assert hub.cloud.emulator is not None
    starts = [count for (_, name), count in hub.cloud.emulator.execution_starts.items() if request_id in name]
    assert starts == [1]
    assert waiting(hub, "PreprocessSubscriber.DeadLetterQueue") == 0


def test_agenthub_redrive_names_the_queues_when_it_cannot_tell_which(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTHUB_STATE_DIR", str(hub.state_dir))

    assert cli.main(["redrive", "NoSuchSubscriber"]) == 1
    assert "CoreWriterSubscriber" in capsys.readouterr().err


def test_agenthub_redrive_json_prints_each_queues_outcome(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTHUB_STATE_DIR", str(hub.state_dir))
    assert waiting(hub, "PreprocessSubscriber.DeadLetterQueue") == 0

    exit_status = cli.main(["redrive", "PreprocessSubscriber", "--json"])

    out = capsys.readouterr().out
    (outcome,) = json.loads(out)  # nothing but the JSON
    assert exit_status == 0
    queue_arn = hub.aws("sqs").get_queue_attributes(
        QueueUrl=hub.ref("PreprocessSubscriber.DeadLetterQueue"), AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert outcome["queue"] == queue_arn.rsplit(":", 1)[-1]
    assert (outcome["status"], outcome["moved"], outcome["failure"]) == ("EMPTY", 0, "")
