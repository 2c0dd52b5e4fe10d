"""Nothing stays open forever: the sweeper fails what the hub could not carry (docs/reliability.md #20, #34).

The session's local cloud does not run the schedule (it would fail other tests' requests mid-test):
each test fires the sweeper's rule itself, as EventBridge would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Hub, subject_of
from tests.e2e.test_customization import SFT_RECORD, upload
from tests.support.clock import date_back_last_news

SWEEP_RULE = "SweeperFunctionSweep"


def sweep(hub: Hub, **event: Any) -> dict[str, Any]:
    """Runs the sweeper now: on its schedule's event, or with `event` as its input."""
    assert hub.cloud.scheduler is not None
    if not event:
        (result,) = hub.cloud.scheduler.fire(SWEEP_RULE)
    else:
        sweeper = hub.cloud.stack.function("SweeperFunction")  # type: ignore[union-attr]
        result = hub.cloud.functions.invoke(sweeper.name, json.dumps(event).encode())  # type: ignore[union-attr]
    assert result.function_error is None, result.payload
    answer: dict[str, Any] = json.loads(result.payload)
    return answer


def waiting(hub: Hub, queue: str) -> int:
    attributes = hub.aws("sqs").get_queue_attributes(
        QueueUrl=hub.ref(queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def dead_lettered_event(hub: Hub, queue: str, event_type: str, marker: str) -> bool:
    """Whether a message of `event_type` carrying `marker` waits in the queue's dead-letter queue.

    Reads every message, then makes each visible again at once, so the sweeper finds them all after.
    """
    sqs, url, received = hub.aws("sqs"), hub.ref(f"{queue}.DeadLetterQueue"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
        "Messages", []
    ):
        received += batch
    for start in range(0, len(received), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for n, message in enumerate(received[start : start + 10])
            ],
        )
    return any(event_type in message["Body"] and marker in message["Body"] for message in received)


def wait_for(hub: Hub, condition: Callable[[], object], what: str, timeout: float = 90) -> None:
    hub.wait_until(condition, what, timeout)


def test_every_request_whose_message_is_dead_lettered_ends_failed_naming_who_could_not_take_it(
    hub: Hub,
) -> None:
    """One request stuck in each dead-letter queue whose messages are a request's work."""
    client = hub.client("sweeper-poisoned")
    word = f"poison{uuid.uuid4().hex[:8]}"
    dataset = upload(client, [SFT_RECORD] * 8)
    requests = {
        "CoreWriterSubscriber": (
            "CoreWriterFunction",
            {"pipeline": "preprocess", "input": {"text": f"{word} a"}},
        ),
        "PreprocessSubscriber": (
            "PreprocessTriggerFunction",
            {"pipeline": "preprocess", "input": {"text": f"{word} b"}},
        ),
        "InvokeSubscriber": (
            "InvokeTriggerFunction",
            {"pipeline": "invoke", "input": {"prompt": f"{word} c"}},
        ),
        "AgentSubscriber": ("AgentTriggerFunction", {"pipeline": "agent", "input": {"prompt": f"{word} d"}}),
        "CustomizeSubscriber": (
            "CustomizeTriggerFunction",
            {
                "pipeline": "customize",
                "input": {
                    "method": "sft",
                    "technique": "lora",
                    "base_model": "amazon.nova-lite-v1:0",
                    "dataset_id": dataset,
                    "output_model_name": f"{word}-e",
                },
            },
        ),
    }
    # The core writer must miss every event of its request, or the pipeline's own ending closes it:
    # that request comes from a caller of its own, and the fault matches the caller's sub, which
    # every hub envelope carries.
    core_writer_caller = hub.client(f"sweeper-core-writer-{word}")
    stuck, faults = {}, {}
    # The core writer's request goes last, once the core writer has recorded the others: a failing
    # batch fails every message in it, so theirs could otherwise be dead-lettered beside it.
    order = [queue for queue in requests if queue != "CoreWriterSubscriber"] + ["CoreWriterSubscriber"]
    for queue in order:
        function, body = requests[queue]
        if queue == "CoreWriterSubscriber":
            for request_id in stuck.values():
                wait_for(
                    hub,
                    lambda request_id=request_id: client.get(request_id).body["history"] != [],
                    f"the core writer recording {request_id}",
                )
        caller = core_writer_caller if queue == "CoreWriterSubscriber" else client
        marker = body["input"].get("text") or body["input"].get("prompt") or f"{word}-e"
        faults[queue] = hub.fault(
            operation="Invoke",
            function=hub.cloud.stack.function(function).name,  # type: ignore[union-attr]
            match=subject_of(caller) if caller is core_writer_caller else str(marker),
            error="Runtime.ExitError",
        )
        stuck[queue] = caller.submit(body).body["request_id"]
    for queue in requests:
        wait_for(
            hub,
            lambda queue=queue: waiting(hub, f"{queue}.DeadLetterQueue") > 0,
            f"a message in {queue}'s dead-letter queue",
        )
    # Once the core writer has missed its request's last event too, it recovers (and so can record
    # what the sweeper announces).
    wait_for(
        hub,
        lambda: dead_lettered_event(
            hub, "CoreWriterSubscriber", "preprocess.completed", subject_of(core_writer_caller)
        ),
        "the core writer's request's preprocess.completed in its dead-letter queue",
    )
    faults["CoreWriterSubscriber"].times = 0

    found = sweep(hub)

    assert found["dead_lettered"] >= len(stuck)
    consumers = {
        "CoreWriterSubscriber": "the core writer",
        "PreprocessSubscriber": "the preprocess trigger",
        "InvokeSubscriber": "the invoke trigger",
        "AgentSubscriber": "the agent trigger",
        "CustomizeSubscriber": "the customization trigger",
    }
    for queue, request_id in stuck.items():
        caller = core_writer_caller if queue == "CoreWriterSubscriber" else client
        view = caller.wait(request_id, timeout=60)
        assert view["status"] == "FAILED", (queue, view)
        assert view["error"]["error"] == "DeadLettered"
        assert view["error"]["cause"].startswith(
            f"the hub could not deliver request.accepted to {consumers[queue]}"
        )
        assert "arn:" not in view["error"]["cause"]
        assert waiting(hub, f"{queue}.DeadLetterQueue") > 0  # still there, for a redrive
    # Sweeping again finds the same messages and announces nothing new.
    hub.quiet()  # every announcement of the first sweep has been recorded
    others = {queue: request_id for queue, request_id in stuck.items() if queue != "CoreWriterSubscriber"}
    before = {request_id: client.get(request_id).body["history"] for request_id in others.values()}
    sweep(hub)
    hub.quiet()  # whatever the second sweep announced has been recorded
    assert {request_id: client.get(request_id).body["history"] for request_id in others.values()} == before


def test_a_redriven_message_still_finishes_the_request_the_sweeper_failed(hub: Hub) -> None:
    client = hub.client("sweeper-redriven")
    word = f"redrive{uuid.uuid4().hex[:8]}"
    hub.fault(
        operation="Invoke",
        function=hub.cloud.stack.function("PreprocessTriggerFunction").name,  # type: ignore[union-attr]
        match=word,
        error="Runtime.ExitError",
        times=3,  # as often as the queue allows (the local SubscriberMaxReceiveCount), then it recovers
    )
    request_id = client.submit({"pipeline": "preprocess", "input": {"text": f"about {word}"}}).body[
        "request_id"
    ]
    wait_for(
        hub,
        lambda: dead_lettered_event(hub, "PreprocessSubscriber", "request.accepted", word),
        "the request.accepted in the preprocess trigger's dead-letter queue",
    )
    sweep(hub)
    assert client.wait(request_id, timeout=60)["status"] == "FAILED"

    sqs = hub.aws("sqs")
    dead_letters = sqs.get_queue_attributes(
        QueueUrl=hub.ref("PreprocessSubscriber.DeadLetterQueue"), AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    sqs.start_message_move_task(SourceArn=dead_letters)
    wait_for(
        hub,
        lambda: client.get(request_id).body["status"] == "SUCCEEDED",
        "the redriven run's end",
        timeout=60,
    )

    view = client.get(request_id).body
    (replaced,) = [entry for entry in view["history"] if entry["event_type"] == "preprocess.completed"]
    assert replaced["note"] == "the pipeline's own outcome replaces the hub's FAILED (redriven work)"
    assert view["error"] is None
    assert view["result"]["stats"]["words"] == 2


def test_a_request_never_heard_of_again_is_failed_as_overdue(hub: Hub) -> None:
    """A request.accepted no pipeline takes (as if its message were lost): only the sweeper ends it."""
    client = hub.client("sweeper-forgotten")
    request_id = str(uuid.uuid4())
    hub.publish_accepted(client, request_id, "preprocess", {"text": "never processed"}, "no-such-stage")
    wait_for(
        hub,
        lambda: client.get(request_id).status == 200 and client.get(request_id).body["history"] != [],
        "the core writer recording the request",
    )
    hub.quiet()
    # Nothing was heard of it for 3 s: its last news is dated back, rather than waited for.
    date_back_last_news(hub.aws("dynamodb"), hub.ref("CatalogTable"), request_id, seconds=3)

    found = sweep(hub, overdue_after_seconds=2)

    assert found["overdue"] >= 1
    view = client.wait(request_id, timeout=30)
    assert view["status"] == "FAILED"
    assert view["error"]["error"] == "Overdue"
    assert view["error"]["cause"].startswith("nothing was heard of the request for more than 2 s")
