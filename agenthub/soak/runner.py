"""Runs a soak against a local cloud of its own, and reads back what the local cloud did.

Sending: each planned request is sent at its turn (`rate` a second, `concurrency` at a time) the way
a careful client sends it: a 409, 429 or 5xx (a front door killed mid-request answers 502) is
retried with the same Idempotency-Key, after its Retry-After. A raced request is sent by two
threads at once with the same key. Faults: rules go to the stand-ins before sending; a worker kill
or a hub redelivery is acted out a moment after its request is accepted. Draining: until every
accepted request is terminal (or its message sits in a dead-letter queue) and the local cloud is
quiet (`LocalCloud.settle`: no subscriber queue holds a message, no poller a batch, no function an
invocation, no execution runs), or the timeout passes.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from agenthub import PROJECT_ROOT
from agenthub.local.activity import NeverHappened
from agenthub.local.cloud import LocalCloud, LocalCloudConfig, NotRunning
from agenthub.local.emulator import Emulator
from agenthub.local.functions import FunctionHost
from agenthub.local.stack import FunctionSpec, Stack
from agenthub.local.standins import FaultRule
from agenthub.local.tokens import user_token
from agenthub.soak.ledger import TERMINAL, Accepted, Final, Observed, report
from agenthub.soak.plan import (
    HUB_REDELIVERY,
    PIPELINES,
    TOOL_ANSWER_TIMEOUT_SECONDS,
    WORKER_KILLED,
    Caller,
    PlannedRequest,
    plan_requests,
)

log = logging.getLogger("agenthub.soak")
DATASET = PROJECT_ROOT / "events" / "customization" / "sft_dataset.jsonl"
# The stage throttle would answer most of a soak 429; the soak is about what happens after a 202.
OVERRIDES = {"ApiThrottleRateLimit": "10000", "ApiThrottleBurstLimit": "10000"}
# A worker is killed in one of these: subscribers (their batch is redelivered) and the front door
# (its caller gets a 502 and retries). Not task functions: a kill there would be one more failure
# than a task fault planned within the retries, and the plan could not say what the request ends as.
# A tool's function or the agents' relay killed mid-batch leaves its calls unanswered until the
# batch comes back, after the run's wait: the model is told they timed out, the run goes on.
KILL_TARGETS = (
    "FrontDoorFunction",
    "CoreWriterFunction",
    "PreprocessTriggerFunction",
    "InvokeTriggerFunction",
    "CustomizeTriggerFunction",
    "AgentTriggerFunction",
    "AgentRelayFunction",
    "CalculatorFunction",
    "SearchDocumentsFunction",
)
# The states a run passes before it has claimed its request (statemachines/preprocess.asl.json).
CLAIM_STATES = {"Read the request", "Claim this run", "Another run has this request"}
RETRIED_STATUSES = (409, 429, 500, 502, 503, 504)
MAX_SENDS = 60  # a front door killed after publishing holds its key "in progress" for its timeout
POLL_SECONDS = 2.0
# How long the soak hides a dead letter while it reads its queue (it hands them back at once after).
PEEK_SECONDS = 30
SWEEPER = "SweeperFunction"


@dataclass
class SoakSettings:
    requests: int
    fault_rate: float
    seed: int = 1
    callers: int = 4
    rate: float = 8.0  # requests sent a second
    concurrency: int = 8
    timeout: float | None = None  # for draining; by default 120 s plus half a second a request
    state_dir: Path | None = None
    # The hub subscribers' function timeout and queue visibility timeout. The local cloud's 5 s
    # (samconfig.toml) gets a poison message to its DLQ in seconds; under a long soak on a loaded
    # laptop a healthy batch can take longer than that, time out and be dead-lettered for nothing.
    subscriber_timeout: int = 15
    kill_targets: tuple[str, ...] = KILL_TARGETS  # logical ids of the functions whose workers may be killed

    def overrides(self) -> dict[str, str]:
        timeout = str(self.subscriber_timeout)
        return {
            **OVERRIDES,
            "SubscriberTimeoutSeconds": timeout,
            "SubscriberVisibilityTimeoutSeconds": timeout,
            # What the plan's tool delays are measured against (samconfig.toml's local value too).
            "ToolAnswerTimeoutSeconds": str(TOOL_ANSWER_TIMEOUT_SECONDS),
        }

    def drain_timeout(self) -> float:
        return self.timeout if self.timeout is not None else 120 + 0.5 * self.requests


@dataclass
class _Ledger:
    accepted: dict[int, Accepted] = field(default_factory=dict)
    refused: list[tuple[int, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _subject(token: str) -> str:
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return str(claims["sub"])


@dataclass(frozen=True)
class _Cloud:
    """The parts of a started local cloud the soak drives."""

    api_url: str
    info: dict[str, Any]
    emulator: Emulator
    stack: Stack  # the hub's
    functions: FunctionHost
    local: LocalCloud  # the whole of it: what is still pending (agenthub.local.activity)
    stacks: tuple[Stack, ...] = ()  # every stack deployed: the hub's, then the tools'

    @classmethod
    def of(cls, cloud: LocalCloud) -> _Cloud:
        if cloud.emulator is None or cloud.stack is None or cloud.functions is None:
            raise NotRunning("the local cloud is not running")
        stacks = tuple(cloud.stacks.values())
        return cls(cloud.api_url, cloud.info(), cloud.emulator, cloud.stack, cloud.functions, cloud, stacks)

    def function(self, logical_id: str) -> FunctionSpec:
        """A function of the hub's stack or of a tool's, by logical id."""
        for stack in (self.stack, *self.stacks):
            if logical_id in stack.functions:
                return stack.function(logical_id)
        raise KeyError(f"no stack deployed has a function {logical_id}")


class Soak:
    def __init__(self, settings: SoakSettings, progress: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self._progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))

    def run(self) -> dict[str, Any]:
        """Starts a local cloud of its own, runs the soak on it, stops it, and returns the report."""
        state_dir = self.settings.state_dir or Path(tempfile.mkdtemp(prefix="agenthub-soak-"))
        cloud = LocalCloud(
            LocalCloudConfig(
                api_port=0,
                emulator_port=0,
                state_dir=state_dir,
                parameter_overrides=self.settings.overrides(),
            )
        )
        started = time.monotonic()
        cloud.start()
        try:
            self._progress(f"soak: local cloud ready in {time.monotonic() - started:.0f}s ({state_dir})")
            return _Run(self.settings, _Cloud.of(cloud), state_dir, self._progress).execute()
        finally:
            cloud.stop()


class _Run:
    def __init__(
        self, settings: SoakSettings, cloud: _Cloud, state_dir: Path, progress: Callable[[str], None]
    ) -> None:
        self.settings = settings
        self.cloud = cloud
        self._state_dir = state_dir
        self._progress = progress
        self._ledger = _Ledger()
        self._local = threading.local()
        self._actions: list[threading.Thread] = []
        self._rng = random.Random(settings.seed + 1)  # noqa: S311 - timing jitter, not a secret  # nosec B311
        self._injected: Counter[str] = Counter()
        # message id -> every message read from the DLQs
        self._dead_letters: dict[str, DeadLetter] = {}
        self._rules: list[tuple[str, FaultRule]] = []  # (fault kind, the rule as the stand-ins hold it)

    def execute(self) -> dict[str, Any]:
        callers, tokens = self._sign_in(self._state_dir)
        planned = plan_requests(
            self.settings.requests, self.settings.fault_rate, self.settings.seed, list(callers.values())
        )
        self._install_rules(planned)
        began = time.monotonic()
        self._send_all(planned, tokens)
        self._progress(f"soak: {len(planned)} requests sent in {time.monotonic() - began:.0f}s; draining")
        observed = self._drain(began)
        wall = time.monotonic() - began
        accepted = sorted(self._ledger.accepted.values(), key=lambda entry: entry.planned.index)
        mix = Counter(request.pipeline for request in planned)
        return report(
            accepted,
            observed,
            wall_seconds=wall,
            refused=len(self._ledger.refused),
            settings={
                "requests": self.settings.requests,
                "fault_rate": self.settings.fault_rate,
                "seed": self.settings.seed,
                "callers": self.settings.callers,
                "rate": self.settings.rate,
                "subscriber_timeout": self.settings.subscriber_timeout,
                "pipelines": {pipeline.name: mix[pipeline.name] for pipeline in PIPELINES},
            },
        )

    def _sign_in(self, state_dir: Path) -> tuple[dict[str, Caller], dict[str, str]]:
        """Several callers, each signed in as a person would be and holding one uploaded dataset."""
        info = self.cloud.info
        callers, tokens = {}, {}
        for number in range(self.settings.callers):
            name = f"soak-caller-{number}"
            token = tokens[name] = user_token(info, name, None, state_dir)
            created = requests.post(
                f"{self.cloud.api_url}/v1/datasets", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            created.raise_for_status()
            upload = created.json()
            form = upload["upload"]
            requests.post(
                form["url"],
                data=form["fields"],
                files={form["file_field"]: (DATASET.name, DATASET.read_bytes())},
                timeout=60,
            ).raise_for_status()
            callers[name] = Caller(name, dataset_id=upload["dataset_id"])
        return callers, tokens

    def _install_rules(self, planned: list[PlannedRequest]) -> None:
        for request in planned:
            if request.fault is None or request.fault.rule is None:
                continue
            rule = dict(request.fault.rule)
            if request.fault.function:
                rule["function"] = self.cloud.function(request.fault.function).name
            self._rules.append((request.fault.kind, self.cloud.emulator.standins.add_rule(rule)))

    # -- sending ---------------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _submit(self, token: str, request: PlannedRequest) -> tuple[int, str]:
        """(202, request id), or the status and body of a refusal; retried as a careful client would."""
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": request.key}
        status, text = 0, ""
        for attempt in range(MAX_SENDS):
            try:
                response = self._session().post(
                    f"{self.cloud.api_url}/v1/requests", json=request.body, headers=headers, timeout=30
                )
            except requests.RequestException as error:
                status, text = 0, str(error)
                time.sleep(min(2.0, 0.1 * 2**attempt))
                continue
            status, text = response.status_code, response.text
            if status == 202:
                return status, str(response.json()["request_id"])
            if status not in RETRIED_STATUSES:
                return status, text
            wait = float(response.headers.get("Retry-After") or min(2.0, 0.1 * 2**attempt))
            time.sleep(wait * (0.5 + self._rng.random()))
        return status, text

    def _send(self, request: PlannedRequest, token: str, subject: str) -> None:
        sends = 2 if request.race else 1
        together = threading.Barrier(sends)
        answers: list[tuple[int, str, float]] = []

        def one() -> None:
            if sends > 1:
                together.wait()  # the second send races the first, as a client's retry on a timeout would
            status, value = self._submit(token, request)
            answers.append((status, value, time.time()))

        racers = [threading.Thread(target=one) for _ in range(sends - 1)]
        for racer in racers:
            racer.start()
        one()
        for racer in racers:
            racer.join()
        ids = {value for status, value, _ in answers if status == 202}
        if not ids:
            status, value, _ = answers[0]
            with self._ledger.lock:
                self._ledger.refused.append((request.index, status, value[:300]))
            return
        first = min((at, value) for status, value, at in answers if status == 202)
        entry = Accepted(request, first[1], subject, first[0], request_ids=ids, sends=sends)
        with self._ledger.lock:
            self._ledger.accepted[request.index] = entry
        self._after_accept(entry, token)

    def _after_accept(self, entry: Accepted, token: str) -> None:
        planned = entry.planned
        if planned.cancel:
            self._session().post(
                f"{self.cloud.api_url}/v1/requests/{entry.request_id}/cancel",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
        kind = planned.fault.kind if planned.fault else None
        if kind == WORKER_KILLED:
            self._later(self._rng.uniform(0.0, 1.5), self._kill_a_busy_worker)
        elif kind == HUB_REDELIVERY:
            self._later(self._rng.uniform(0.5, 6.0), lambda: self._redeliver(entry))

    def _send_all(self, planned: list[PlannedRequest], tokens: dict[str, str]) -> None:
        subjects = {name: _subject(token) for name, token in tokens.items()}
        started = time.monotonic()
        with ThreadPoolExecutor(
            max_workers=self.settings.concurrency, thread_name_prefix="soak-send"
        ) as pool:
            futures = []
            for request in planned:
                due = started + request.index / self.settings.rate
                time.sleep(max(0.0, due - time.monotonic()))
                futures.append(
                    pool.submit(self._send, request, tokens[request.caller], subjects[request.caller])
                )
                if request.index and request.index % 100 == 0:
                    self._progress(f"soak: sent {request.index}, accepted {len(self._ledger.accepted)}")
            for future in futures:
                future.result()

    # -- faults acted out --------------------------------------------------------------------------------

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        def run() -> None:
            time.sleep(delay)
            try:
                action()
            except Exception:  # a fault that could not be acted out is logged, and not counted
                log.exception("soak: a fault action failed")

        thread = threading.Thread(target=run, daemon=True, name="soak-fault")
        thread.start()
        self._actions.append(thread)

    def _kill_a_busy_worker(self) -> None:
        """Kills a worker that is running an invocation right now, of one of the kill targets."""
        targets = self.settings.kill_targets
        pools = [self.cloud.functions.pool(self.cloud.function(name).name) for name in targets]

        def killed() -> bool:
            return any(pool.kill_busy_worker() for pool in self._rng.sample(pools, len(pools)))

        try:
            self.cloud.local.wait_for(killed, 10, "an invocation of a kill target")
        except NeverHappened:
            return  # none ran meanwhile: the fault is not acted out, and not counted
        self._injected[WORKER_KILLED] += 1

    def _redeliver(self, entry: Accepted) -> None:
        """Publishes the request's request.accepted again, exactly as the front door published it
        (rebuilt from the catalog: the same event id, time and payload), as SNS may deliver twice."""
        dynamodb = self.cloud.emulator.client("dynamodb")

        def recorded() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]] | None:
            item = dynamodb.get_item(
                TableName=self.cloud.stack.outputs["CatalogTable"],
                Key={"pk": {"S": f"REQUEST#{entry.request_id}"}, "sk": {"S": "REQUEST"}},
            ).get("Item")
            body = json.loads(item["body"]["S"]) if item else {}
            accepted = [e for e in body.get("history", []) if e["event_type"] == "request.accepted"]
            if item and accepted and (body.get("input") or {}).get("inline") is not None:
                return item, body, accepted
            return None

        # Until the core writer has recorded the acceptance, there is nothing to publish again; under
        # a long soak its queue can run minutes behind.
        try:
            item, body, accepted = self.cloud.local.wait_for(recorded, 600, "the acceptance's record")
        except NeverHappened:
            return
        stages = body.get("stages") or [entry.planned.pipeline]
        envelope = {
            "event_id": accepted[0]["event_id"],
            "event_type": "request.accepted",
            "request_id": entry.request_id,
            "pipeline": item["pipeline"]["S"],
            "source": "front-door",
            "subject": entry.subject,
            "occurred_at": accepted[0]["occurred_at"],
            "schema_version": 1,
            "first_stage": stages[0],
            "payload": {"input": json.loads(body["input"]["inline"]), "stages": stages},
            "payload_ref": None,
        }
        attributes = {
            "event_type": "request.accepted",
            "pipeline": envelope["pipeline"],
            "source": "front-door",
            "schema_version": "1",
            "first_stage": stages[0],
        }
        self.cloud.emulator.client("sns").publish(
            TopicArn=self.cloud.stack.outputs["AgentCoreTopic"],
            Message=json.dumps(envelope),
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
        self._injected[HUB_REDELIVERY] += 1

    # -- draining and reading back ----------------------------------------------------------------------

    def _queues(self) -> Queues:
        """The stacks' queues, told apart by their redrive policies (a name can be cut short before
        it says "DeadLetterQueue"), and which dead-letter queues the sweeper reads."""
        sqs = self.cloud.emulator.client("sqs")
        urls = sqs.list_queues(MaxResults=1000).get("QueueUrls", [])
        by_arn, targets = {}, {}
        for url in urls:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])[
                "Attributes"
            ]
            by_arn[attributes["QueueArn"]] = url
            if "RedrivePolicy" in attributes:
                targets[json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]] = url
        dead_letters = {
            by_arn[arn]: _subscriber_of(source) for arn, source in targets.items() if arn in by_arn
        }
        sweeper = json.loads(self.cloud.function(SWEEPER).environment.get("DEAD_LETTER_QUEUES", "{}"))
        swept_names = {_queue_name(url) for url in sweeper.values()}
        return Queues(
            subscribers=[url for url in urls if url not in dead_letters],
            dead_letters=dead_letters,
            swept={url for url in dead_letters if _queue_name(url) in swept_names},
        )

    def _read_dead_letters(self, queues: Queues) -> None:
        self._dead_letters.update(peek_dead_letters(self.cloud.emulator.client("sqs"), queues))

    def _dead_lettered(self) -> set[str]:
        """Requests with a message in a dead-letter queue the sweeper reads (it fails them). A
        tool's call or answer in a dead-letter queue is a call the run stopped waiting for."""
        letters = self._dead_letters.values()
        return {letter.request_id for letter in letters if letter.swept and letter.request_id}

    def _catalog(self) -> list[dict[str, Any]]:
        dynamodb = self.cloud.emulator.client("dynamodb")
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.cloud.stack.outputs["CatalogTable"]}
        while True:
            page = dynamodb.scan(**kwargs)
            items.extend(item for item in page["Items"] if item["pk"]["S"].startswith("REQUEST#"))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _drain(self, began: float) -> Observed:
        queues = self._queues()
        deadline = time.monotonic() + self.settings.drain_timeout()
        last_report = last_sweep = 0.0
        activity = self.cloud.local.activity()
        while True:
            for action in self._actions:
                action.join(timeout=0)
            pending_actions = any(action.is_alive() for action in self._actions)
            # Quiet (confirmed by settle) before the catalog is read: what it then says is final.
            quiet = activity.quiet
            self._read_dead_letters(queues)
            statuses = {item["request_id"]["S"]: item["status"]["S"] for item in self._catalog()}
            dead = self._dead_lettered()
            accepted = self._ledger.accepted.values()
            open_requests = [entry for entry in accepted if statuses.get(entry.request_id) not in TERMINAL]
            waiting = [entry for entry in open_requests if entry.request_id not in dead]
            if not open_requests and quiet and not pending_actions:
                break
            if not waiting and quiet and not pending_actions and time.monotonic() - last_sweep > 20:
                # Only requests the hub could not carry are open: the sweeper fails them now rather
                # than on its schedule (then their request.failed is in flight to the core writer).
                last_sweep = time.monotonic()
                self._sweep()
            if time.monotonic() > deadline:
                self._progress(
                    f"soak: gave up draining with {len(open_requests)} requests not terminal; "
                    f"pending: {activity.describe()}"
                )
                break
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                self._progress(
                    f"soak: {time.monotonic() - began:.0f}s: {len(waiting)} requests still running, "
                    f"{len(dead)} dead-lettered; pending: {activity.describe()}"
                )
            if quiet:
                # Nothing runs: only a sweep or a fault action to come can change anything.
                self.cloud.local.wait_change(activity.generation, POLL_SECONDS)
            activity = self.cloud.local.settle(POLL_SECONDS)
        return self._observe(queues)

    def _sweep(self) -> None:
        """Runs the sweeper as its schedule would."""
        result = self.cloud.functions.invoke(self.cloud.function(SWEEPER).name, b"{}")
        if result.function_error is not None:
            raise RuntimeError(f"the sweeper failed: {result.payload.decode(errors='replace')}")
        self._progress(f"soak: swept: {result.payload.decode()}")

    def _runs_that_worked(self) -> tuple[Counter[str], Counter[str]]:
        """(Express, Standard) runs by state machine and request. An Express run counts once past its
        claim: a duplicate start (a trigger killed after StartExecution) ends at the claim and does no
        work. Every Standard run counts (agents, customizations): Step Functions starts one per name,
        and the name derives from the request, so two would be two names for one request."""
        sfn = self.cloud.emulator.client("stepfunctions")
        express: Counter[str] = Counter()
        standard: Counter[str] = Counter()
        for machine in sfn.list_state_machines()["stateMachines"]:
            pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"])
            for execution in (item for page in pages for item in page["executions"]):
                arn = execution["executionArn"]
                if machine.get("type") == "EXPRESS":
                    entered = {
                        event["stateEnteredEventDetails"]["name"]
                        for event in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
                        if "stateEnteredEventDetails" in event
                    }
                    if not entered - CLAIM_STATES:
                        continue
                runs = express if machine.get("type") == "EXPRESS" else standard
                started_by = json.loads(sfn.describe_execution(executionArn=arn)["input"]).get("event") or {}
                runs[f"{machine['name']}:{started_by.get('request_id', execution['name'])}"] += 1
        return express, standard

    def _observe(self, queues: Queues) -> Observed:
        self._read_dead_letters(queues)
        by_marker = {entry.planned.marker: entry for entry in self._ledger.accepted.values()}
        by_id = {entry.request_id: entry for entry in self._ledger.accepted.values()}
        finals: dict[str, Final] = {}
        rows: Counter[str] = Counter()
        tool_calls: Counter[str] = Counter()
        for item in self._catalog():
            request_id = item["request_id"]["S"]
            body = json.loads(item["body"]["S"])
            terminal = next((e for e in body.get("history", []) if e["status"] in TERMINAL), None)
            finals[request_id] = Final(
                item["status"]["S"],
                datetime.fromisoformat(terminal["occurred_at"]).timestamp() if terminal else None,
                body.get("error"),
            )
            text = (body.get("input") or {}).get("inline") or ""
            marker = next((m for m in by_marker if m in text), None)
            if marker is None and request_id in by_id:
                marker = by_id[request_id].planned.marker
            rows[marker or ""] += 1
            if item["pipeline"]["S"] == "agent":
                tool_calls.update(_tool_calls(body))
        dynamodb = self.cloud.emulator.client("dynamodb")
        turns: Counter[str] = Counter()
        kwargs: dict[str, Any] = {"TableName": self.cloud.stack.outputs["AgentMemoryTable"]}
        while True:
            page = dynamodb.scan(**kwargs)
            turns.update(item["request_id"]["S"] for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        express, standard = self._runs_that_worked()
        injected = Counter(self._injected)
        for kind, rule in self._rules:
            injected[kind] += rule.hits > 0
        return Observed(
            finals=finals,
            catalog_rows=rows,
            memory_turns=turns,
            express_runs=express,
            standard_runs=standard,
            dead_lettered=self._dead_lettered(),
            dlq_messages=len(self._dead_letters),
            dead_letters=Counter(
                f"{letter.subscriber}: {letter.event_type}" for letter in self._dead_letters.values()
            ),
            faults_injected=dict(injected),
            tool_calls=tool_calls,
        )


@dataclass(frozen=True)
class Queues:
    subscribers: list[str]  # every queue that is no dead-letter queue (what a function polls)
    dead_letters: dict[str, str]  # dead-letter queue URL -> the subscriber whose queue it serves
    swept: set[str]  # the dead-letter queues the sweeper reads: a message there fails its request


@dataclass(frozen=True)
class DeadLetter:
    subscriber: str
    event_type: str
    request_id: str
    swept: bool


def peek_dead_letters(sqs: Any, queues: Queues) -> dict[str, DeadLetter]:
    """Every message in the DLQs, by message id. Each is handed back as soon as its queue is read:
    the sweeper must find them too (it fails their requests), as a redrive would."""
    found: dict[str, DeadLetter] = {}
    for url, subscriber in queues.dead_letters.items():
        handles: list[str] = []
        try:
            while messages := sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=PEEK_SECONDS
            ).get("Messages", []):
                for message in messages:
                    handles.append(message["ReceiptHandle"])
                    swept = url in queues.swept
                    found[message["MessageId"]] = _dead_letter(message["Body"], subscriber, swept)
        finally:
            for start in range(0, len(handles), 10):
                entries = [
                    {"Id": str(number), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for number, handle in enumerate(handles[start : start + 10])
                ]
                sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
    return found


def _dead_letter(body: str, subscriber: str, swept: bool) -> DeadLetter:
    try:
        event = json.loads(json.loads(body)["Message"])
        return DeadLetter(subscriber, str(event["event_type"]), str(event["request_id"]), swept)
    except (ValueError, KeyError, TypeError):
        return DeadLetter(subscriber, "unreadable", "", swept)


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _subscriber_of(queue_url: str) -> str:
    """The subscriber's logical id in a queue's name (<stack>-<Subscriber>-<suffix>-Queue-<suffix>)."""
    name = _queue_name(queue_url)
    return next((part for part in name.split("-") if part.endswith("Subscriber")), name)


def _tool_calls(body: dict[str, Any]) -> Counter[str]:
    """An agent's tool calls by tool and how each ended: answered, answered an error, or not
    answered within the run's wait (from its result's transcript, when the row holds it)."""
    calls: Counter[str] = Counter()
    inline = (body.get("result") or {}).get("inline")
    if inline is None:
        return calls
    for call in json.loads(inline).get("transcript") or []:
        if call.get("outcome") == "success":
            ended = "answered"
        elif str(call.get("answer", "")).startswith("The tool did not answer"):
            ended = "timed out"
        else:
            ended = "error"
        calls[f"{call.get('tool')}: {ended}"] += 1
    return calls
