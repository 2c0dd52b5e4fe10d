"""The emulator's data as bytes and back: what `agenthub.local.persistence` keeps between runs.

moto keeps each service's state in plain Python objects ("backends"); these are pickled, with
what pickle cannot take as it is handled on the way:

- locks and conditions (SQS queues, S3 keys): a fresh, unheld one on the way back;
- RSA keys (a Cognito user pool's signing key): kept as PEM;
- Step Functions executions: a running one holds its interpreter's threads, so an execution is
  kept as its record (status, input, output, error, dates) and its event history, and comes
  back as a finished record whose history is read from that list. An execution still running
  when the state was saved is taken out on the way back, to be started again from its
  beginning under the same name once the functions are up (`restore()` lists them).

The stand-ins' Bedrock and SageMaker jobs are kept too (plain records), so a job keeps walking its
lifecycle and a model trained before a restart is still described after it.

Only the services that hold data are kept (`KEPT`). Everything else (IAM, Lambda, KMS, SNS, API
Gateway, logs, alarms) holds only what the template declares and is deployed afresh at every start.
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

if TYPE_CHECKING:
    from agenthub.local.standins import StandIns

log = logging.getLogger("agenthub.local.snapshot")

# The services whose data a developer would miss: lake objects, tables, queued messages, users and
# app clients (their ids and secrets, which tokens and saved credentials name), state machines'
# executions. Their resources are adopted, not created again, by the next deployment (`adopt`).
KEPT = ("s3", "dynamodb", "sqs", "cognito-idp", "stepfunctions")
# Queues `agenthub local invoke --follow` subscribes for a while; one left by a crash is not kept.
TAP_QUEUE_PREFIX = "agenthub-invoke-tap-"
_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())


def kept_backends() -> dict[str, Any]:
    """moto's backends of the kept services (importing their models the first time)."""
    from moto.backends import get_backend
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return {
        "s3": get_backend("s3"),
        "dynamodb": get_backend("dynamodb"),
        "sqs": get_backend("sqs"),
        "cognito-idp": get_backend("cognito-idp"),
        # The interpreter's backend (the emulator turns execute_state_machine on): it holds executions.
        "stepfunctions": stepfunctions_parser_backends,
    }


@dataclass
class Snapshot:
    """What is pickled: each kept service's backends by account and region, and the stand-ins' jobs."""

    backends: dict[str, list[tuple[str, str, Any]]]
    jobs: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """How much each service holds, for the start-up line (objects, items, messages, users, runs)."""
        counted: dict[str, int] = {}
        for service, backends in self.backends.items():
            total = 0
            for _, _, backend in backends:
                total += _count(service, backend)
            counted[service] = total
        return counted


def _count(service: str, backend: Any) -> int:
    if service == "s3":
        return sum(len(bucket.keys) for bucket in backend.buckets.values())
    if service == "dynamodb":
        return sum(len(table) for table in backend.tables.values())
    if service == "sqs":
        return sum(len(queue._messages) for queue in backend.queues.values())
    if service == "cognito-idp":
        return sum(len(pool.users) for pool in backend.user_pools.values())
    if service == "stepfunctions":
        return sum(len(machine.executions) for machine in backend.state_machines)
    return 0


# -- executions, kept as records -------------------------------------------------------------------


class _KeptHistory:
    def __init__(self, events: list[Any]) -> None:
        self.events = events

    def get_event_history(self) -> list[Any]:
        return list(self.events)


class _KeptEnvironment:
    def __init__(self, events: list[Any]) -> None:
        self.event_manager = _KeptHistory(events)


class KeptExecutionWorker:
    """Stands in for a finished execution's interpreter: only its history is ever read."""

    def __init__(self, events: list[Any]) -> None:
        self.env = _KeptEnvironment(events)

    def stop(self, *_: Any, **__: Any) -> None:
        """A finished execution has nothing to stop."""


def _history(execution: Any) -> list[Any]:
    environment = getattr(execution.exec_worker, "env", None)
    return environment.event_manager.get_event_history() if environment is not None else []


def _thaw_execution(cls: Any, attributes: dict[str, Any], events: list[Any]) -> Any:
    execution = cls.__new__(cls)
    execution.__dict__.update(attributes)
    execution.exec_worker = KeptExecutionWorker(events)
    return execution


def _private_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)


def _public_key(pem: bytes) -> Any:
    return serialization.load_pem_public_key(pem)


class _StatePickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        from moto.stepfunctions.parser.backend.execution import Execution

        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        if isinstance(obj, _LOCK):
            return threading.Lock, ()
        if isinstance(obj, _RLOCK):
            return threading.RLock, ()
        if isinstance(obj, rsa.RSAPrivateKey):
            pem = obj.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _private_key, (pem,)
        if isinstance(obj, rsa.RSAPublicKey):
            public = obj.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return _public_key, (public,)
        if isinstance(obj, Execution):
            attributes = {name: value for name, value in vars(obj).items() if name != "exec_worker"}
            return _thaw_execution, (type(obj), attributes, _history(obj))
        return NotImplemented


# -- saving and restoring ---------------------------------------------------------------------------


def capture(standins: StandIns | None = None) -> bytes:
    """The kept services' state, pickled. Call it while the emulator is held still (`Gate.hold`)."""
    snapshot = Snapshot(
        backends={service: list(backends.iter_backends()) for service, backends in kept_backends().items()},
        jobs=dict(standins._jobs) if standins is not None else {},
    )
    buffer = io.BytesIO()
    _StatePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(snapshot)
    return buffer.getvalue()


def load(data: bytes) -> Snapshot:
    snapshot = pickle.loads(data)  # noqa: S301 - our own file, written by capture() in the state folder
    if not isinstance(snapshot, Snapshot):
        raise TypeError(f"not a saved local cloud state but a {type(snapshot).__name__}")
    return snapshot


@dataclass(frozen=True)
class Interrupted:
    """An execution that was running when the state was saved, to be started again."""

    state_machine_arn: str
    name: str
    input: str


def restore(snapshot: Snapshot, standins: StandIns | None = None) -> list[Interrupted]:
    """Puts the saved state in place of the kept services' own (before the template is deployed
    over it), and returns the executions to start again once the functions are up."""
    live = kept_backends()
    for service, backends in snapshot.backends.items():
        if service not in live:
            log.warning("the saved state holds %s, which this version does not keep; left out", service)
            continue
        live[service].clear()
        for account_id, region, backend in backends:
            live[service][account_id][region] = backend
    if standins is not None:
        standins._jobs.clear()
        standins._jobs.update(snapshot.jobs)
    for _, _, backend in live["sqs"].iter_backends():
        _release_messages(backend)
    interrupted: list[Interrupted] = []
    for _, _, backend in live["stepfunctions"].iter_backends():
        interrupted.extend(_take_out_running(backend))
    return interrupted


def _release_messages(sqs: Any) -> None:
    """Messages received but not deleted when the state was saved were in flight to a consumer
    that stopped with the cloud: they are visible again at once rather than after their visibility
    timeout, and are delivered again (at least once, which every consumer tolerates)."""
    for name in [name for name in sqs.queues if name.startswith(TAP_QUEUE_PREFIX)]:
        del sqs.queues[name]
    for queue in sqs.queues.values():
        for message in queue._messages:
            message.visible_at = 0.0
        queue._pending_messages.clear()


def _take_out_running(backend: Any) -> list[Interrupted]:
    import json

    interrupted = []
    for machine in backend.state_machines:
        running = [execution for execution in machine.executions if execution.status == "RUNNING"]
        for execution in running:
            machine.executions.remove(execution)
            interrupted.append(
                Interrupted(machine.arn, execution.name, json.dumps(execution.input_data, ensure_ascii=False))
            )
    return interrupted
