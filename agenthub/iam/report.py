"""`agenthub iam check`: the IAM check on the hub stack and every tool stack, printed for a developer."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from agenthub import PROJECT_ROOT
from agenthub.iam.check import check
from agenthub.iam.code import read_code
from agenthub.local.deploy import Deployer, Stack
from agenthub.template import translate

HUB_STACK = "agent-hub"
TOOL_TEMPLATES = tuple(sorted((PROJECT_ROOT / "tools").glob("*/template.yaml")))


def _registered(token: str, request: dict[str, Any]) -> dict[str, Any]:
    """A custom resource's answer without running its function: the check reads roles, not registries."""
    return {"Status": "SUCCESS", "PhysicalResourceId": f"checked:{request['LogicalResourceId']}"}


def deploy_all(client: Callable[[str], Any], region: str) -> list[Stack]:
    """The hub stack, then each tool stack beside it (importing its exports and its layer)."""
    layers: dict[str, Any] = {}
    hub = Deployer(translate(region=region), client, HUB_STACK, region, layers=layers).deploy()
    stacks = [hub]
    for template in TOOL_TEMPLATES:
        translation = translate(template, {"HubStackName": HUB_STACK}, region)
        name = f"{HUB_STACK}-{template.parent.name.replace('_', '-')}"
        deployer = Deployer(
            translation,
            client,
            name,
            region,
            exports=hub.exports,
            layers=layers,
            custom_resources=_registered,
        )
        stacks.append(deployer.deploy())
    return stacks


@contextmanager
def deployed_in_moto() -> Iterator[list[Stack]]:
    import boto3
    from moto import mock_aws

    from agenthub.local import moto_adapter

    # Placeholder credentials for the in-process emulator: nothing here may reach AWS.
    for name, value in (("AWS_ACCESS_KEY_ID", "iam-check"), ("AWS_SECRET_ACCESS_KEY", "iam-check")):
        os.environ.setdefault(name, value)
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    moto_adapter.install()
    with mock_aws():
        clients: dict[str, object] = {}

        def client(service: str) -> object:
            if service not in clients:
                clients[service] = boto3.client(service, region_name=region)  # type: ignore[call-overload]
            return clients[service]

        yield deploy_all(client, region)


def run_check(show_needs: bool = False) -> int:
    code = read_code()
    with deployed_in_moto() as stacks:
        hub, *tools = stacks
        reports = [(hub.name, check(hub, code))]
        reports += [(tool.name, check(tool, code, beside=[hub])) for tool in tools]
    failed = 0
    for name, report in reports:
        if show_needs:
            for principal in report.principals:
                print(f"{name} {principal.logical_id} ({principal.role})")
                for need in sorted({(n.action, n.resource, n.because) for n in principal.needs}):
                    print(f"  {need[0]} on {need[1]}  <- {need[2]}")
        for finding in report.findings:
            print(f"{name}: {finding}", file=sys.stderr)
        checked = len(report.principals)
        if report.ok:
            print(
                f"iam check: {name}: {checked} principals;"
                " every role allows what its principal needs, and no more"
            )
        else:
            failed += 1
            print(
                f"iam check: {name}: {len(report.findings)} finding(s) across {checked} principals",
                file=sys.stderr,
            )
    return 1 if failed else 0
