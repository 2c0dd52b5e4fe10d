"""The integration tier's AWS: template.yaml deployed into moto in-process, and handlers run with
exactly the environment the template gives their function.

The deployment is the local cloud's own deployer, so tables, topics, queues and subscriptions
are built from the template's properties and cannot drift from it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import boto3
from moto import mock_aws

from agenthub.local import moto_adapter
from agenthub.local.deploy import Deployer, Stack
from agenthub.local.lambda_context import LambdaContext
from agenthub.template import Translation, translate

STACK_NAME = "agent-hub-test"
REGION = "us-east-1"


@cache
def _translation(overrides: tuple[tuple[str, str], ...]) -> Translation:
    return translate(parameter_overrides=dict(overrides))


@cache
def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


@contextmanager
def deployed_stack(**parameter_overrides: str) -> Iterator[Stack]:
    """template.yaml deployed into a fresh in-process moto."""
    moto_adapter.install()
    with mock_aws():
        translation = _translation(tuple(sorted(parameter_overrides.items())))
        yield Deployer(translation, client, STACK_NAME, REGION).deploy()


def _reset_caches(*module_names: str) -> None:
    """Clears the per-execution-environment caches (settings, clients, services), as a cold start would."""
    for name in module_names:
        module = sys.modules.get(name)
        for value in vars(module).values() if module else ():
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == name:
                value.cache_clear()


class FunctionRunner:
    """Runs a template function's real handler in-process, with only that function's environment."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._applied: set[str] = set()
        self._active: str | None = None

    def environment(self, logical_id: str) -> dict[str, str]:
        spec = self.stack.function(logical_id)
        return {**spec.environment, "AWS_LAMBDA_FUNCTION_NAME": spec.name}

    def activate(self, logical_id: str) -> Any:
        """The function's handler. Switching functions is a cold start (fresh settings and clients);
        invoking the same function again is warm, as it is in Lambda."""
        module_name, handler_name = self.stack.function(logical_id).handler.rsplit(".", 1)
        if self._active == logical_id:
            return getattr(importlib.import_module(module_name), handler_name)
        for name in self._applied:
            os.environ.pop(name, None)
        environment = self.environment(logical_id)
        os.environ.update(environment)
        self._applied = set(environment)
        self._active = logical_id
        module = importlib.import_module(module_name)
        _reset_caches("shared.config", "shared.aws", module_name)
        return getattr(module, handler_name)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        handler = self.activate(logical_id)
        spec = self.stack.function(logical_id)
        return handler(event, LambdaContext.starting_now(spec.name, spec.timeout))

    def close(self) -> None:
        for name in self._applied:
            os.environ.pop(name, None)
        self._applied.clear()
        self._active = None


def drain(queue_url: str, wait_seconds: int = 0) -> list[dict[str, Any]]:
    """Every message waiting in a queue, removed from it."""
    sqs = client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def hub_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hub envelopes inside SQS messages delivered by the hub's subscriptions."""
    return [json.loads(json.loads(message["Body"])["Message"]) for message in messages]
