"""`agenthub`: the project's command line.

agenthub local up [--port N]        run the whole hub locally until interrupted
agenthub local token [--user NAME]  print an access token for a local user
agenthub local soak --requests N --fault-rate R [--seed S] [--json]
                                    a local cloud of its own under load and faults, and a ledger
agenthub redrive QUEUE [--stack S]  move a dead-letter queue's messages back (local cloud or stack)
agenthub demo                       start the local cloud, send the sample requests, report
agenthub template translate [OUT]   the SAM-translated template, as JSON
agenthub iam check [--needs]        what each role must allow, checked against what it allows
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from agenthub import LOCAL_STATE_DIR

EXIT_USAGE = 2


def state_dir() -> Path:
    return Path(os.environ.get("AGENTHUB_STATE_DIR", LOCAL_STATE_DIR))


def _fail(message: str, code: int = 1) -> int:
    print(f"agenthub: {message}", file=sys.stderr)
    return code


def _overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator:
            raise ValueError(f"parameter override {pair!r} is not Name=Value")
        overrides[name] = value
    return overrides


def _local_cloud_config(args: argparse.Namespace) -> Any:
    from agenthub.local.cloud import LocalCloudConfig

    return LocalCloudConfig(
        api_port=args.port,
        emulator_port=args.emulator_port,
        parameter_overrides=_overrides(args.parameter_overrides or []),
        state_dir=state_dir(),
        concurrency=args.concurrency,
    )


def local_up(args: argparse.Namespace) -> int:
    from agenthub.local.cloud import LocalCloud, LocalCloudError
    from agenthub.local.emulator import PortInUse

    cloud = LocalCloud(_local_cloud_config(args))
    try:
        cloud.start()
    except (PortInUse, LocalCloudError, ValueError) as error:
        return _fail(str(error), EXIT_USAGE)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    info = cloud.info()
    stack = cloud.stack
    functions = sorted(stack.functions) if stack else []
    print(f"emulator: {info['endpoint_url']}  (aws --endpoint-url {info['endpoint_url']} ...)")
    print(f"console: {info['console_url']}  (requests, executions, queues, models)")
    print(f"functions: {', '.join(functions)}  (logs in {state_dir() / 'logs'})")
    for note in stack.notes if stack else []:
        print(f"note: {note}")
    print(f"ready: {info['api_url']}", flush=True)
    try:
        # Wait in short steps: a signal the kernel hands to another thread only runs its Python
        # handler once the main thread wakes, and an untimed wait might never wake.
        while not stopping.wait(0.5):
            pass
    finally:
        print("stopping", flush=True)
        cloud.stop()
    return 0


def local_token(args: argparse.Namespace) -> int:
    from agenthub.local.tokens import LocalTokenError, load_info, user_token

    try:
        info = load_info(state_dir())
        print(user_token(info, args.user, args.scope or None, state_dir()))
    except LocalTokenError as error:
        return _fail(str(error))
    return 0


def local_soak(args: argparse.Namespace) -> int:
    from agenthub.local.cloud import LocalCloudError
    from agenthub.soak.runner import Soak, SoakSettings

    if args.requests < 1 or not 0 <= args.fault_rate <= 1:
        return _fail("--requests must be at least 1 and --fault-rate within 0..1", EXIT_USAGE)
    settings = SoakSettings(
        requests=args.requests,
        fault_rate=args.fault_rate,
        seed=args.seed,
        callers=args.callers,
        rate=args.rate,
        timeout=args.timeout,
        subscriber_timeout=args.subscriber_timeout,
    )
    if args.kill_targets:
        settings.kill_targets = tuple(args.kill_targets.split(","))
    # The pollers warn of every failed batch; under injected faults that is the point, not news.
    logging.getLogger("agenthub.local.pollers").setLevel(logging.ERROR)
    try:
        result = Soak(settings).run()
    except LocalCloudError as error:
        return _fail(str(error), EXIT_USAGE)
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name}: {json.dumps(value)}")
    return 0 if result["ok"] else 1


def redrive(args: argparse.Namespace) -> int:
    from agenthub.redrive import DeployedStack, LocalStack, RedriveError
    from agenthub.redrive import redrive as move_back

    finder: DeployedStack | LocalStack
    if args.stack:
        import boto3

        region = {"region_name": args.region} if args.region else {}
        finder = DeployedStack(
            args.stack, boto3.client("cloudformation", **region), boto3.client("sqs", **region)
        )
    else:
        from agenthub.local import local_client
        from agenthub.local.tokens import LocalTokenError, load_info

        try:
            info = load_info(state_dir())
        except LocalTokenError as error:
            return _fail(f"{error}, or name a deployed stack with --stack")
        finder = LocalStack(info["stack_name"], local_client("sqs", info["region"], info["endpoint_url"]))
    try:
        queues = finder.find(args.queue)
        results = [move_back(finder.sqs, queue, wait_seconds=args.wait) for queue in queues]
    except RedriveError as error:
        return _fail(str(error))
    for result in results:
        if result.status == "EMPTY":
            print(f"{result.queue.name}: nothing to redrive")
        else:
            reason = f": {result.failure}" if result.failure else ""
            print(
                f"{result.queue.name}: {result.moved} message(s) moved back, {result.status.lower()}{reason}"
            )
    return 0 if all(result.status in ("EMPTY", "COMPLETED") for result in results) else 1


def demo(args: argparse.Namespace) -> int:
    from agenthub.demo import run_demo

    return run_demo(_local_cloud_config(args))


def translate_template(args: argparse.Namespace) -> int:
    from agenthub.template import TemplateError, translate

    try:
        translation = translate()
    except TemplateError as error:
        return _fail(str(error))
    template = translation.template
    if args.out:
        # Nested templates are named relative to the template; keep them found from where this goes.
        out_dir = Path(args.out).resolve().parent
        for resource in template["Resources"].values():
            url = resource.get("Properties", {}).get("TemplateURL")
            if resource["Type"] == "AWS::CloudFormation::Stack" and isinstance(url, str) and "://" not in url:
                resource["Properties"]["TemplateURL"] = os.path.relpath(
                    translation.path.parent / url, out_dir
                )
    text = json.dumps(template, indent=1, default=str)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    else:
        print(text)
    return 0


def iam_check(args: argparse.Namespace) -> int:
    from agenthub.iam.report import run_check

    return run_check(show_needs=args.needs)


def _add_cloud_options(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--port", type=int, default=default_port, help="local API port; 0 picks a free one")
    parser.add_argument(
        "--emulator-port",
        type=int,
        help="AWS emulator port (when not given: --port + 1, or a free one with --port 0)",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        metavar="NAME=VALUE",
        help="template parameters, as for sam deploy, on top of samconfig.toml's [localcloud] overrides",
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, help="worker processes per function (beyond it, calls wait)"
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="agenthub", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = root.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="the local cloud").add_subparsers(
        dest="local_command", required=True
    )
    up = local.add_parser(
        "up",
        help="run the local cloud in the foreground until interrupted",
        description="Deploy template.yaml into a local AWS emulator and serve its API on 127.0.0.1. Prints "
        "'ready: <api url>' and writes .agenthub/local.json (or $AGENTHUB_STATE_DIR/local.json).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_cloud_options(up, 3000)
    up.set_defaults(run=local_up)
    token = local.add_parser("token", help="print an access token for a local user (created on first use)")
    token.add_argument("--user", default="developer")
    token.add_argument(
        "--scope", action="append", help="a scope to ask for (repeatable; default: every hub scope)"
    )
    token.set_defaults(run=local_token)

    soak = local.add_parser(
        "soak",
        help="start a local cloud of its own, send it requests with faults, and report what became of them",
        description="Sends --requests requests across every pipeline from several callers (some twice at "
        "once with the same Idempotency-Key), injects faults into --fault-rate of them (Bedrock throttling, "
        "5xx and timeouts; task crashes and timeouts; trigger and core-writer crashes; workers killed "
        "mid-batch; hub redelivery), waits for the work to drain, and prints what became of every 202. "
        "Exits 0 only when nothing was lost, nothing failed unexpectedly and nothing happened twice.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    soak.add_argument("--requests", type=int, required=True)
    soak.add_argument("--fault-rate", type=float, required=True, help="the share of requests given a fault")
    soak.add_argument(
        "--seed", type=int, default=1, help="the plan (pipelines, callers, faults) is fixed by it"
    )
    soak.add_argument("--callers", type=int, default=4)
    soak.add_argument("--rate", type=float, default=8.0, help="requests sent a second")
    soak.add_argument(
        "--timeout", type=float, help="seconds to wait for draining (default: 120 + 0.5 a request)"
    )
    soak.add_argument(
        "--subscriber-timeout",
        type=int,
        default=15,
        help="the hub subscribers' function and visibility timeout, in seconds",
    )
    soak.add_argument(
        "--kill-targets",
        help="comma-separated logical ids of the functions whose workers may be killed "
        "(default: the front door, the core writer and the pipeline triggers)",
    )
    soak.add_argument("--json", action="store_true", help="print the report as one JSON object")
    soak.set_defaults(run=local_soak)

    run = commands.add_parser(
        "demo", help="start the local cloud, send the sample requests, print what happened"
    )
    _add_cloud_options(run, 0)
    run.set_defaults(run=demo)

    moving = commands.add_parser(
        "redrive",
        help="move a dead-letter queue's messages back to their queue (SQS StartMessageMoveTask)",
        description="Redrives a hub subscriber's dead-letter queue, in the local cloud (default) or in a "
        "deployed stack (--stack), and waits until SQS reports the move done.",
    )
    moving.add_argument(
        "queue",
        help="a subscriber's logical id (PreprocessSubscriber), a queue name, URL or ARN, or 'all'",
    )
    moving.add_argument("--stack", help="the name of a deployed stack (default: the running local cloud)")
    moving.add_argument("--region", help="the deployed stack's region (default: your AWS configuration's)")
    moving.add_argument("--wait", type=float, default=300, help="seconds to wait for the move to finish")
    moving.set_defaults(run=redrive)

    template = commands.add_parser("template", help="the template").add_subparsers(
        dest="template_command", required=True
    )
    translated = template.add_parser("translate", help="write the SAM-translated template as JSON")
    translated.add_argument("out", nargs="?")
    translated.set_defaults(run=translate_template)

    iam = commands.add_parser("iam", help="IAM, checked statically").add_subparsers(
        dest="iam_command", required=True
    )
    iam_check_parser = iam.add_parser(
        "check",
        help="compare what every function and state machine needs with what its role allows",
        description="Deploys template.yaml into an in-process emulator (every intrinsic resolved), reads "
        "functions/ with mypy's types, and reports missing permissions, grants nothing uses, wildcard "
        "actions and AWS calls the access model (agenthub/iam/access.py) does not know. Exits 1 on findings.",
    )
    iam_check_parser.add_argument("--needs", action="store_true", help="also list every principal's needs")
    iam_check_parser.set_defaults(run=iam_check)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except ModuleNotFoundError as error:
        return _fail(f"a dependency is missing ({error.name}); run `make demo` (or `pip install -e .`) first")
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
