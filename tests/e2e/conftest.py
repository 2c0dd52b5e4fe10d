"""The e2e tier: one local cloud for the session, deployed from template.yaml, driven over HTTP."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agenthub.client import HubClient
from agenthub.local.activity import Activity
from agenthub.local.cloud import LocalCloud, LocalCloudConfig
from agenthub.local.standins import FaultRule
from agenthub.local.tokens import user_token
from tests.support.waiting import wait_until

T = TypeVar("T")


class Hub:
    """The running local cloud, seen the way its users see it."""

    def __init__(self, cloud: LocalCloud, state_dir: Path) -> None:
        self.cloud = cloud
        self.state_dir = state_dir
        self.info = cloud.info()
        self.api_url = cloud.api_url

    def token(self, user: str, scopes: list[str] | None = None) -> str:
        return user_token(self.info, user, scopes, self.state_dir)

    def client(self, user: str, scopes: list[str] | None = None) -> HubClient:
        return HubClient(self.api_url, self.token(user, scopes))

    def aws(self, service: str) -> Any:
        assert self.cloud.emulator is not None
        return self.cloud.emulator.client(service)

    def ref(self, logical_id: str) -> str:
        assert self.cloud.stack is not None
        return self.cloud.stack.ref(logical_id)

    def fault(self, **rule: Any) -> FaultRule:
        """A fault rule for the stand-ins (Bedrock, SageMaker) or Lambda invocations ("Invoke")."""
        assert self.cloud.emulator is not None
        return self.cloud.emulator.standins.add_rule(rule)

    def calls(self, operation: str, match: str = "", target: str = "") -> int:
        assert self.cloud.emulator is not None
        return self.cloud.emulator.standins.count(operation, match, target)

    def job_status(self, name: str) -> str | None:
        assert self.cloud.emulator is not None
        return self.cloud.emulator.standins.job_status(name)

    def publish_accepted(
        self, client: HubClient, request_id: str, pipeline: str, request_input: dict[str, Any], stage: str
    ) -> None:
        """A request.accepted for `client`'s request straight onto the hub, as the front door (or a
        redelivery) would put it there."""
        from shared.hub import HubPublisher, new_event

        event = new_event(
            event_type="request.accepted",
            request_id=request_id,
            pipeline=pipeline,
            source="front-door",
            subject=subject_of(client),
            payload={"input": request_input, "stages": [stage]},
            first_stage=stage,
        )
        publisher = HubPublisher(
            self.ref("AgentCoreTopic"), self.ref("DataLakeBucket"), self.aws("sns"), self.aws("s3")
        )
        publisher.publish(event)

    def wait_until(self, predicate: Callable[[], T | None], what: str, timeout: float = 60) -> T:
        """The first true value of `predicate`, asked again whenever the local cloud changes; at the
        deadline an error naming `what` and what was still pending."""
        return wait_until(predicate, timeout, what=what, waiter=self.cloud)

    def quiet(self, timeout: float = 120) -> Activity:
        """Waits until everything started has finished (no message, invocation or execution pending);
        at the deadline an error naming what was still pending. Before asserting that something did
        not happen: nothing is then left that could still make it happen."""
        return self.cloud.wait_quiet(timeout)

    def invocations(self, logical_id: str) -> int:
        assert self.cloud.functions is not None
        assert self.cloud.stack is not None
        return self.cloud.functions.pool(self.cloud.stack.function(logical_id).name).invocations


def subject_of(client: HubClient) -> str:
    """The Cognito `sub` of the client's token: the caller id the hub and the catalog key on."""
    claims = json.loads(base64.urlsafe_b64decode(client.token.split(".")[1] + "=="))
    return str(claims["sub"])


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    state_dir = tmp_path_factory.mktemp("agenthub-state")
    # The sweeper runs when a test fires it: on a schedule it would fail another test's request
    # mid-test (one dead-lettered on purpose, about to be redriven).
    cloud = LocalCloud(
        LocalCloudConfig(api_port=0, emulator_port=0, state_dir=state_dir, run_schedules=False)
    )
    cloud.start()
    try:
        yield Hub(cloud, state_dir)
    finally:
        cloud.stop()
