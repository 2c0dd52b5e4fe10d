"""`agenthub iam check`: the IAM check on template.yaml and functions/, printed for a developer."""

from __future__ import annotations

import os
import sys

from agenthub.iam.check import Report, check
from agenthub.iam.code import read_code


def _deployed_report() -> Report:
    import boto3
    from moto import mock_aws

    from agenthub.local import moto_adapter
    from agenthub.local.deploy import Deployer
    from agenthub.template import translate

    # Placeholder credentials for the in-process emulator: nothing here may reach AWS.
    for name, value in (("AWS_ACCESS_KEY_ID", "iam-check"), ("AWS_SECRET_ACCESS_KEY", "iam-check")):
        os.environ.setdefault(name, value)
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    code = read_code()
    moto_adapter.install()
    with mock_aws():
        clients: dict[str, object] = {}

        def client(service: str) -> object:
            if service not in clients:
                clients[service] = boto3.client(service, region_name=region)  # type: ignore[call-overload]
            return clients[service]

        stack = Deployer(translate(region=region), client, "agent-hub", region).deploy()
        return check(stack, code)


def run_check(show_needs: bool = False) -> int:
    report = _deployed_report()
    if show_needs:
        for principal in report.principals:
            print(f"{principal.logical_id} ({principal.role})")
            for need in sorted({(n.action, n.resource, n.because) for n in principal.needs}):
                print(f"  {need[0]} on {need[1]}  <- {need[2]}")
    for finding in report.findings:
        print(finding, file=sys.stderr)
    checked = len(report.principals)
    if report.ok:
        print(f"iam check: {checked} principals; every role allows what its principal needs, and no more")
        return 0
    print(f"iam check: {len(report.findings)} finding(s) across {checked} principals", file=sys.stderr)
    return 1
