"""A hub subscriber's Lambda handler: SQS batches of hub events, with partial batch failures.

Every subscriber (the core writer, the pipeline triggers, the cancel handlers) takes one hub event
at a time; a message that fails is reported alone, so it returns to its queue (and in the end its
dead-letter queue) while the rest of the batch is done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from shared.hub import HubEvent, parse_notification
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

Handler = Callable[[dict[str, Any], "LambdaContext"], "PartialItemFailureResponse"]


def hub_subscriber(
    handle: Callable[[HubEvent], object], before: Callable[[LambdaContext], None] | None = None
) -> Handler:
    """The Lambda handler for a subscription whose messages `handle` takes one event at a time.

    `before` runs once per invocation, ahead of the batch (to hand Powertools the context, say).
    """
    # A batch where every record failed still answers with its item failures rather than raising:
    # the messages return to the queue either way, and the function's error metric stays for crashes.
    processor = BatchProcessor(
        event_type=EventType.SQS,
        raise_on_entire_batch_failure=False,
        # Each failed message is logged with its exception (without a logger Powertools keeps quiet).
        logger=logger,  # type: ignore[arg-type]
    )

    @tracer.capture_method
    def record_handler(record: SQSRecord) -> None:
        handle(parse_notification(record.body))

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        if before is not None:
            before(context)
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return lambda_handler
