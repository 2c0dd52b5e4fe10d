"""SQS event sources, polled the way Lambda polls them.

For each event source mapping in the template: receive up to the batch size (waiting up to the
batching window to fill it), invoke the function with Lambda's SQS event, then delete what
succeeded. With ReportBatchItemFailures, the items the function names stay in the queue; a
function error, a throttle or a malformed failure report leaves the whole batch. What stays
becomes visible again after the queue's visibility timeout, and the queue's redrive policy
moves it to the dead-letter queue after maxReceiveCount receives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any

from agenthub.local.activity import CHANGES, Changes
from agenthub.local.deploy import EventSourceSpec
from agenthub.local.functions import FunctionHost, Throttled

log = logging.getLogger("agenthub.local.pollers")
MAX_SQS_BATCH = 10


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    records = []
    for message in messages:
        attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        }
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": attributes,
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def failed_items(response: bytes, message_ids: set[str]) -> set[str] | None:
    """The message ids a ReportBatchItemFailures response names; None when the report is malformed
    (Lambda then treats the whole batch as failed)."""
    try:
        result = json.loads(response) if response else None
    except json.JSONDecodeError:
        return None
    if result is None or (isinstance(result, dict) and not result.get("batchItemFailures")):
        return set()
    if not isinstance(result, dict) or not isinstance(result.get("batchItemFailures"), list):
        return set()
    failed = set()
    for item in result["batchItemFailures"]:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in message_ids:
            return None
        failed.add(identifier)
    return failed


class SqsPoller:
    def __init__(
        self,
        spec: EventSourceSpec,
        sqs: Any,
        functions: FunctionHost,
        region: str,
        pollers: int = 1,
        changes: Changes = CHANGES,
    ) -> None:
        self.spec = spec
        self.queue_name = spec.queue_arn.rsplit(":", 1)[-1]
        self._changes = changes
        self._held = 0  # batches received and not yet deleted or left to come back
        self._held_lock = threading.Lock()
        self._sqs = sqs
        self._functions = functions
        self._region = region
        self._queue_url = sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"poller-{spec.logical_id}-{index}", daemon=True)
            for index in range(pollers)
        ]
        self.invocations = 0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def request_stop(self) -> None:
        """Stops taking new batches; a delivery in flight ends on its own (or when its worker is killed)."""
        self._stop.set()

    @property
    def name(self) -> str:
        return self.spec.logical_id

    @property
    def batches_held(self) -> int:
        with self._held_lock:
            return self._held

    def _hold(self, change: int) -> None:
        with self._held_lock:
            self._held += change
        self._changes.bump()

    def join(self, deadline: float) -> None:
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _receive(self) -> list[dict[str, Any]]:
        size = min(self.spec.batch_size, MAX_SQS_BATCH)
        deadline = time.monotonic() + self.spec.batching_window_seconds
        messages: list[dict[str, Any]] = []
        while not self._stop.is_set():
            wait = 1 if not messages else max(0, min(1, int(deadline - time.monotonic())))
            batch = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=size - len(messages),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(batch)
            if (
                len(messages) >= size
                or (messages and time.monotonic() >= deadline)
                or (messages and not batch)
            ):
                return messages
            if not messages:
                return []
        return messages

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._receive()
                if messages:
                    # The messages are in flight in their queue until deleted; holding the batch
                    # covers the moment between (agenthub.local.activity).
                    self._hold(+1)
                    try:
                        self._deliver(messages)
                    finally:
                        self._hold(-1)
            except Exception:  # a poller must outlive any one failure; the message stays queued
                if self._stop.is_set():
                    return  # the emulator refuses calls once the stopping cloud has saved its state
                log.exception("%s: polling failed", self.spec.logical_id)
                self._stop.wait(1)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = lambda_sqs_event(messages, self.spec.queue_arn, self._region)
        self.invocations += 1
        try:
            result = self._functions.invoke(self.spec.function_name, json.dumps(event).encode())
        except Throttled:
            log.info(
                "%s: function throttled; the batch returns after its visibility timeout", self.spec.logical_id
            )
            return
        if result.function_error:
            log.warning(
                "%s: function error; the batch returns after its visibility timeout", self.spec.logical_id
            )
            return
        ids = {message["MessageId"] for message in messages}
        failed = failed_items(result.payload, ids) if self.spec.report_batch_item_failures else set()
        if failed is None:
            log.warning("%s: malformed batchItemFailures; the whole batch is retried", self.spec.logical_id)
            return
        done = [message for message in messages if message["MessageId"] not in failed]
        for start in range(0, len(done), MAX_SQS_BATCH):
            chunk = done[start : start + MAX_SQS_BATCH]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(chunk)
                ],
            )
