"""Whole requests through a local cloud the bench starts: a mixed load, then one request at a time.

The mixed load sends 200 requests (100 preprocess, 80 invoke, 20 chained preprocess -> invoke)
from 8 client threads and times each from its 202 to the moment its catalog row turned terminal
(the row's `updated_at`, which the core writer sets when it applies the terminal event). The bench
waits for the local cloud to be quiet (`agenthub.local.activity`: nothing left in a queue, a function
or an execution), then reads the rows with batched reads straight from the emulator, marked so the
counts leave them out, rather than polling GET /v1/requests: 200 callers polling would be load of
their own. Every request's final status is then read through the API, as a caller sees it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import requests
from botocore.config import Config

from agenthub import PROJECT_ROOT
from agenthub.bench.counting import BENCH_USER_AGENT
from agenthub.bench.stats import percentile
from agenthub.client import TERMINAL, HubClient
from agenthub.local import LOCAL_ACCESS_KEY
from agenthub.local.activity import Activity
from agenthub.local.cloud import LocalCloud

SAMPLES = PROJECT_ROOT / "events" / "front_door"
# The pipelines of the mixed load, their sample request and how many of each.
MIX = {"preprocess": ("post_request_preprocess.json", 100), "invoke": ("post_request_invoke.json", 80)}
MIX_CHAINED = ("chained", "post_request_chained.json", 20)
CLIENT_THREADS = 8
# Where the core writer keeps a request (functions/shared/catalog.py: request_key).
CATALOG_KEY = ("REQUEST#{request_id}", "REQUEST")


class LoadFailed(RuntimeError):
    pass


def sample_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.loads((SAMPLES / name).read_text())["body"])
    return body


def mixed_requests(seed: int = 10, share: float = 1.0) -> list[tuple[str, dict[str, Any]]]:
    """The 200 requests (or a share of each kind, at least one), (kind, body), in a fixed shuffled order."""
    kinds = [(kind, name, count) for kind, (name, count) in MIX.items()] + [MIX_CHAINED]
    requests = [
        (kind, sample_body(name)) for kind, name, count in kinds for _ in range(max(1, round(count * share)))
    ]
    random.Random(seed).shuffle(requests)  # noqa: S311 - a fixed order for the load, not a secret
    return requests


def bench_client(endpoint_url: str, region: str, service: str) -> Any:
    """An emulator client whose requests the counts leave out."""
    import boto3

    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_ACCESS_KEY,
        config=Config(user_agent_extra=BENCH_USER_AGENT, retries={"mode": "standard"}),
    )


def emulator_of(cloud: LocalCloud) -> tuple[str, str]:
    if cloud.emulator is None:
        raise LoadFailed("the local cloud is not running")
    return cloud.emulator.url, cloud.emulator.region


@dataclass
class Sent:
    kind: str
    request_id: str
    accepted_at: float  # wall clock, as the catalog's timestamps are
    terminal_at: float | None = None
    status: str = ""


class Settles(Protocol):
    """A local cloud that can be waited for until quiet: in this process, or over its control API."""

    def settle(self, timeout: float) -> Activity: ...


class CatalogWatch:
    """Terminal moments of requests, read from the catalog in batches of 100 once the local cloud
    has nothing left to do."""

    def __init__(self, endpoint_url: str, region: str, table: str, cloud: Settles) -> None:
        self._table = table
        self._dynamodb = bench_client(endpoint_url, region, "dynamodb")
        self._cloud = cloud
        self.last_activity: Activity | None = None

    def poll(self, pending: list[Sent]) -> None:
        for start in range(0, len(pending), 100):
            batch = {sent.request_id: sent for sent in pending[start : start + 100]}
            keys = [
                {"pk": {"S": CATALOG_KEY[0].format(request_id=rid)}, "sk": {"S": CATALOG_KEY[1]}}
                for rid in batch
            ]
            answer = self._dynamodb.batch_get_item(RequestItems={self._table: {"Keys": keys}})
            for item in answer["Responses"].get(self._table, []):
                sent = batch[item["request_id"]["S"]]
                if item["status"]["S"] in TERMINAL:
                    sent.status = item["status"]["S"]
                    sent.terminal_at = datetime.fromisoformat(item["updated_at"]["S"]).timestamp()

    def wait(self, sent: list[Sent], timeout: float) -> bool:
        """Whether the local cloud was quiet within `timeout` and every request had turned terminal
        by then (one whose message waits in a dead-letter queue never does). `last_activity` tells
        what was still pending when it was not."""
        self.last_activity = self._cloud.settle(timeout)
        self.poll([item for item in sent if item.terminal_at is None])
        return self.last_activity.quiet and all(item.terminal_at is not None for item in sent)


RETRIED = (409, 429, 503)


def submit(client: HubClient, kind: str, body: dict[str, Any], attempts: int = 3) -> Sent:
    """Sends one request; a timed-out POST is sent again with the same key, as a client would (the
    front door answers the retry with the first acceptance, so nothing is done twice)."""
    key = f"bench-{uuid.uuid4()}"
    for attempt in range(attempts):
        try:
            reply = client.submit(body, key)
        except requests.Timeout:
            if attempt == attempts - 1:
                raise
            continue
        if reply.status not in RETRIED or attempt == attempts - 1:
            break
        time.sleep(1 + attempt)  # 409: the first send is still being accepted; 429/503: busy
    if reply.status != 202:
        raise LoadFailed(f"a {kind} request was answered {reply.status}: {reply.body}")
    return Sent(kind, str(reply.body["request_id"]), time.time())


def status_of(client: HubClient, request_id: str, attempts: int = 10) -> str:
    """The request's status through the API; a throttled read (the stage's rate limit) is retried."""
    for attempt in range(attempts):
        reply = client.get(request_id)
        if reply.status != 429:
            return str(reply.body.get("status", f"HTTP {reply.status}"))
        time.sleep(0.2 * (attempt + 1))
    return "HTTP 429"


@dataclass
class MixedLoad:
    requests: int
    seconds: float
    p50_seconds: float
    p95_seconds: float
    statuses: dict[str, int]  # as the catalog had them when the clock stopped
    api_statuses: dict[str, int]  # as GET /v1/requests/{id} answered afterwards
    by_kind_p50_seconds: dict[str, float] = field(default_factory=dict)


def run_mixed_load(
    client: HubClient, watch: CatalogWatch, timeout: float = 300, share: float = 1.0
) -> MixedLoad:
    requests = mixed_requests(share=share)
    started = time.time()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        sent = list(pool.map(lambda request: submit(client, *request), requests))
    # A request that never ends (its message in a dead-letter queue) is reported, not waited for.
    watch.wait(sent, timeout)
    latencies = [item.terminal_at - item.accepted_at for item in sent if item.terminal_at is not None]
    finished = max(item.terminal_at or 0.0 for item in sent)
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        api_statuses = Counter(pool.map(lambda item: status_of(client, item.request_id), sent))
    by_kind = {
        kind: percentile(
            [s.terminal_at - s.accepted_at for s in sent if s.kind == kind and s.terminal_at], 0.5
        )
        for kind in {item.kind for item in sent}
    }
    return MixedLoad(
        requests=len(sent),
        seconds=finished - started,
        p50_seconds=percentile(latencies, 0.5),
        p95_seconds=percentile(latencies, 0.95),
        statuses=dict(Counter(item.status or "NOT_TERMINAL" for item in sent)),
        api_statuses=dict(api_statuses),
        by_kind_p50_seconds=by_kind,
    )


class LocalCloudProcess:
    """`agenthub local up` in a process of its own, so a profiler sees only the local cloud."""

    def __init__(self, state_dir: Path, log: Path) -> None:
        self.state_dir = state_dir
        self._log = log.open("w", encoding="utf-8")
        self._process = subprocess.Popen(  # noqa: S603 - the virtualenv's own command line
            [
                str(Path(sys.executable).parent / "agenthub"),
                "local",
                "up",
                "--port",
                "0",
                "--emulator-port",
                "0",
            ],
            env={**os.environ, "AGENTHUB_STATE_DIR": str(state_dir)},
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.pid = self._process.pid
        if self._process.stdout is None:
            raise LoadFailed("the local cloud was started without its output")
        for line in self._process.stdout:
            self._log.write(line)
            if line.startswith("ready:"):
                break
        else:
            raise LoadFailed(f"the local cloud did not start; see {log}")
        self.info: dict[str, Any] = json.loads((state_dir / "local.json").read_text())

    def stop(self) -> None:
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
        self._log.close()
