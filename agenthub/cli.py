"""`agenthub`: the project's command line.

agenthub login [--local | --stack S]  sign in to a hub (people: browser and PKCE; machines: --machine;
                                    a local user without a browser: --local --user NAME)
agenthub submit PIPELINE [--input FILE|-] [--idempotency-key K] [--watch]
agenthub status ID | watch ID | cancel ID
agenthub requests [--pipeline P] [--status S]   your recent requests
agenthub upload-dataset FILE [--method M]       upload, then the dataset's report
agenthub models | tools                         your customized models; the tools agents may use
                                    (every client command takes --local or --stack/--region, and --json;
                                    without them: $AGENTHUB_STACK, else the last login's hub)
agenthub local up [--port N]        run the whole hub locally until interrupted (its state kept)
agenthub local token [--user NAME]  print an access token for a local user
agenthub local invoke [-t TEMPLATE] ID [-e EVENT]
                                    run one function's handler (the hub's or a tool's) with an event,
                                    as sam local invoke; each run with fresh ids (--keep-ids: as written)
agenthub local event EVENT          a sample event with its ${...} names resolved
agenthub local reset                wipe the local cloud's saved state
agenthub local soak --requests N --fault-rate R [--seed S] [--json]
                                    a local cloud of its own under load and faults, and a ledger
agenthub redrive QUEUE [--stack S]  move a dead-letter queue's messages back (local cloud or stack; --json)
agenthub demo                       start the local cloud, send the sample requests, report
agenthub template translate [OUT]   the SAM-translated template, as JSON
agenthub openapi [OUT]              the API's OpenAPI document (docs/openapi.json), from the front door
agenthub diagrams [--check]         the README's Mermaid diagrams, from the templates and state machines
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
        # `local up` keeps its state between runs; `demo` always starts empty and keeps nothing.
        keep_state=args.command == "local",
        fresh=getattr(args, "fresh", False),
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
    tool_stacks = sorted(name for name in cloud.stacks if stack is None or name != stack.name)
    tools = ", ".join(cloud.registered_tools()) or "none"
    print(f"tools: {tools}  (stacks {', '.join(tool_stacks) or 'none'})")
    for note in stack.notes if stack else []:
        print(f"note: {note}")
    if cloud.restored:
        restored = cloud.restored
        print(f"state: restored from {state_dir()} in {restored.seconds:.2f}s ({restored.summary()})")
    else:
        print(f"state: empty; kept in {state_dir()} when stopped (`agenthub local reset` wipes it)")
    print(f"ready: {info['api_url']}", flush=True)
    try:
        # Wait in short steps: a signal the kernel hands to another thread only runs its Python
        # handler once the main thread wakes, and an untimed wait might never wake.
        while not stopping.wait(0.5):
            pass
    finally:
        print("stopping", flush=True)
        cloud.stop()
        if cloud.saved:
            print(f"state: saved to {state_dir()} ({cloud.saved['bytes'] / 1024:.0f} KiB)", flush=True)
    return 0


def local_invoke(args: argparse.Namespace) -> int:
    from agenthub.local.invoke import InvokeError, InvokeOptions, LocalCloudClient, invoke, running_cloud

    options = InvokeOptions(
        function=args.function,
        event=Path(args.event) if args.event else None,
        env_vars=Path(args.env_vars) if args.env_vars else None,
        follow=args.follow,
        follow_timeout=args.follow_timeout,
        provide_needs=not args.no_needs,
        stack=args.stack,
        template=Path(args.template) if args.template else None,
        fresh_ids=not args.keep_ids,
    )
    info = running_cloud(state_dir())
    cloud = None
    try:
        if info is None:
            cloud = _cloud_for_one_call()
            info = cloud.info()
        outcome = invoke(LocalCloudClient(info), options, sys.stderr)
    except InvokeError as error:
        return _fail(str(error), EXIT_USAGE)
    finally:
        if cloud is not None:
            cloud.stop()
    print(outcome.invocation.payload, flush=True)
    return 0 if outcome.ok else 1


def _cloud_for_one_call() -> Any:
    """A local cloud for `local invoke` when none runs: on free ports, with the state folder's
    saved state, which it saves again when the call is done."""
    from agenthub.local.cloud import LocalCloud, LocalCloudConfig, LocalCloudError
    from agenthub.local.invoke import InvokeError

    print(f"agenthub: no local cloud runs from {state_dir()}: starting one for this call", file=sys.stderr)
    config = LocalCloudConfig(api_port=0, emulator_port=0, state_dir=state_dir(), keep_state=True, warm=False)
    try:
        return LocalCloud(config).start()
    except LocalCloudError as error:
        raise InvokeError(str(error)) from error


def local_event(args: argparse.Namespace) -> int:
    from agenthub.local.invoke import InvokeError, LocalCloudClient, provide, running_cloud
    from agenthub.local.sample_events import FreshIds, is_project_sample, load_event, load_needs

    info = running_cloud(state_dir())
    if info is None:
        return _fail(f"no local cloud runs from {state_dir()}: start one with `agenthub local up`")
    cloud = LocalCloudClient(info)
    path = Path(args.event)
    rename = None if args.keep_ids or not is_project_sample(path) else FreshIds()
    try:
        stack = cloud.stack_of_template(Path(args.template)) if args.template else args.stack
        if stack is not None and stack not in cloud.stacks:
            raise InvokeError(
                f"no stack {stack} in the local cloud; its stacks: {', '.join(sorted(cloud.stacks))}"
            )
        names = cloud.stacks[stack or cloud.hub_stack]
        event = load_event(path, names, rename)
        if args.prepare:
            provide(cloud, load_needs(path, names, rename), sys.stderr, rename=rename)
    except (OSError, ValueError, LookupError, InvokeError) as error:
        return _fail(f"{path}: {error}", EXIT_USAGE)
    print(json.dumps(event, indent=2, ensure_ascii=False))
    return 0


def local_reset(args: argparse.Namespace) -> int:
    from agenthub.local.invoke import running_cloud
    from agenthub.local.persistence import LocalState

    running = running_cloud(state_dir())
    if running:
        return _fail(
            f"a local cloud is running from {state_dir()} (process {running['pid']}): stop it first",
            EXIT_USAGE,
        )
    removed = LocalState(state_dir()).wipe()
    if args.json:
        print(json.dumps({"state_dir": str(state_dir()), "removed": [str(entry) for entry in removed]}))
        return 0
    for entry in removed:
        print(f"removed {entry}")
    if not removed:
        print(f"nothing saved in {state_dir()}")
    return 0


def local_token(args: argparse.Namespace) -> int:
    from agenthub.local.tokens import LocalTokenError, ensure_user, load_info, user_password, user_token

    try:
        info = load_info(state_dir())
        if args.password:
            # The local pool's passwords derive from the state folder's secret (0600): the user is
            # whoever runs the local cloud, so telling them is no leak.
            password = user_password(state_dir(), args.user)
            ensure_user(info, args.user, password)
            print(password)
        else:
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
    if args.json:
        fields = ("status", "moved", "failure")
        print(json.dumps([{"queue": r.queue.name, **{f: getattr(r, f) for f in fields}} for r in results]))
    else:
        for result in results:
            if result.status == "EMPTY":
                print(f"{result.queue.name}: nothing to redrive")
            else:
                reason = f": {result.failure}" if result.failure else ""
                moved = f"{result.moved} message(s) moved back, {result.status.lower()}{reason}"
                print(f"{result.queue.name}: {moved}")
    return 0 if all(result.status in ("EMPTY", "COMPLETED") for result in results) else 1


def demo(args: argparse.Namespace) -> int:
    from agenthub.demo import run_demo

    return run_demo(_local_cloud_config(args))


def translate_template(args: argparse.Namespace) -> int:
    from agenthub.template import TemplateError, load_sam_template, translate, with_linter_suppressions

    try:
        translation = translate(Path(args.template)) if args.template else translate()
    except TemplateError as error:
        return _fail(str(error))
    # What this writes is what the linters read: suppressions beside a SAM resource reach the
    # resources SAM made for it.
    template = with_linter_suppressions(load_sam_template(translation.path), translation.template)
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


def write_openapi(args: argparse.Namespace) -> int:
    from agenthub.openapi import DOCUMENT, document, render

    text = render(document())
    if args.out == "-":
        print(text, end="")
        return 0
    out = Path(args.out) if args.out else DOCUMENT
    out.write_text(text)
    print(f"wrote {out}")
    return 0


def write_diagrams(args: argparse.Namespace) -> int:
    from agenthub.diagrams import README, generated_blocks, rewrite

    current = README.read_text()
    try:
        updated = rewrite(current, generated_blocks())
    except LookupError as error:
        return _fail(str(error))
    if args.check:
        if updated != current:
            return _fail("README.md's diagrams are stale: run `agenthub diagrams`")
        print("README.md's diagrams are current")
        return 0
    README.write_text(updated)
    print("README.md's diagrams " + ("rewritten" if updated != current else "already current"))
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


def _add_stack_choice(parser: argparse.ArgumentParser, whose: str) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "-t",
        "--template",
        help=f"{whose} stack by its template, as sam local invoke -t (tools/calculator/template.yaml)",
    )
    where.add_argument("--stack", help=f"{whose} stack by name (agent-hub, agent-hub-calculator, ...)")
    parser.add_argument(
        "--keep-ids",
        action="store_true",
        help="use a sample event's ids as written (a second run then meets the first's records); by "
        "default each UUID in a sample of events/ or tools/*/events/ and in what it needs is a new one, "
        "so a run leaves rows of its own (an event of your own always runs as written)",
    )


def _add_soak_command(local: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    soak = local.add_parser(
        "soak",
        help="start a local cloud of its own, send it requests with faults, and report what became of them",
        description="Sends --requests requests across every pipeline, agents with tools among them, from "
        "several callers (some twice at once with the same Idempotency-Key), injects faults into "
        "--fault-rate of them (Bedrock throttling, 5xx and timeouts; task crashes and timeouts; trigger "
        "and core-writer crashes; tools crashing or answering late; workers killed mid-batch; hub "
        "redelivery), waits for the work to drain, and prints what became of every 202. "
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
        "(default: the front door, the core writer, the pipeline triggers, the agents' relay and the tools)",
    )
    soak.add_argument("--json", action="store_true", help="print the report as one JSON object")
    soak.set_defaults(run=local_soak)


def _add_project_commands(commands: Any) -> None:
    """What reads the project's own files: the template, the OpenAPI document, diagrams, IAM."""
    template = commands.add_parser("template", help="the template").add_subparsers(
        dest="template_command", required=True
    )
    translated = template.add_parser("translate", help="write the SAM-translated template as JSON")
    translated.add_argument("out", nargs="?")
    translated.add_argument("--template", help="a template other than template.yaml (a tool stack's)")
    translated.set_defaults(run=translate_template)

    openapi = commands.add_parser(
        "openapi", help="write the API's OpenAPI document, generated from the front door's routes"
    )
    openapi.add_argument("out", nargs="?", help="where to write it (default: docs/openapi.json; '-': stdout)")
    openapi.set_defaults(run=write_openapi)

    diagrams = commands.add_parser(
        "diagrams", help="rewrite the README's Mermaid diagrams from the templates and state machines"
    )
    diagrams.add_argument(
        "--check", action="store_true", help="only say whether they are current (exit 1 if not)"
    )
    diagrams.set_defaults(run=write_diagrams)

    iam = commands.add_parser("iam", help="IAM, checked statically").add_subparsers(
        dest="iam_command", required=True
    )
    iam_check_parser = iam.add_parser(
        "check",
        help="compare what every function and state machine needs with what its role allows",
        description="Deploys template.yaml and every tools/*/template.yaml beside it into an in-process "
        "emulator (every intrinsic resolved), reads functions/ and tools/*/src with mypy's types, and "
        "reports missing permissions, grants nothing uses, wildcard actions and AWS calls the access "
        "model (agenthub/iam/access.py) does not know. Exits 1 on findings.",
    )
    iam_check_parser.add_argument("--needs", action="store_true", help="also list every principal's needs")
    iam_check_parser.set_defaults(run=iam_check)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="agenthub", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = root.add_subparsers(dest="command", required=True)
    from agenthub.client_commands import add_commands

    add_commands(commands)

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
    up.add_argument(
        "--fresh",
        action="store_true",
        help="start empty: discard the state saved by the last run (logs are kept)",
    )
    up.set_defaults(run=local_up)
    invoke = local.add_parser(
        "invoke",
        help="run one function's real handler with an event, inside the local cloud (sam local invoke)",
        description="Runs the function's handler in the running local cloud (or one started for the "
        "call) with exactly the environment the template gives it: a function of the hub stack or of a "
        "tool's stack (agent-hub-<tool>), found by its logical id or named with -t/--stack. The event's "
        "${LogicalId}, ${LogicalId.Attr}, ${Parent.Child} and ${Output} names are resolved against that "
        "deployed stack, its UUIDs are made new for the run (--keep-ids keeps them), and what it needs "
        "first (its .needs.json) is provided. The function's log goes to stderr, its response to stdout; "
        "a function error (or, with --follow, an execution that did not succeed) exits 1.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    invoke.add_argument(
        "function",
        metavar="LogicalId",
        help="the function's logical id in its template (the hub's, or a tool's: found in whichever has it)",
    )
    _add_stack_choice(invoke, "the function's")
    invoke.add_argument("-e", "--event", help="the event file ('-' reads standard input); none: {}")
    invoke.add_argument(
        "--env-vars",
        metavar="FILE",
        help='variables to override, in SAM\'s format: {"LogicalId": {"NAME": "value"}, "Parameters": {...}}',
    )
    invoke.add_argument(
        "--follow",
        action="store_true",
        help="also follow what the invocation started (executions, hub messages) until it ends",
    )
    invoke.add_argument("--follow-timeout", type=float, default=120.0, help="seconds to follow at most")
    invoke.add_argument(
        "--no-needs", action="store_true", help="do not provide what the event needs first (.needs.json)"
    )
    invoke.set_defaults(run=local_invoke)
    event = local.add_parser(
        "event",
        help="print a sample event with its ${...} names resolved against the running local cloud",
        description="For `aws lambda invoke --payload fileb://...` or `sam local invoke -e -`.",
    )
    event.add_argument("event", help="the event file")
    event.add_argument(
        "--prepare", action="store_true", help="also provide what it needs first (its .needs.json)"
    )
    _add_stack_choice(event, "the event's names'")
    event.set_defaults(run=local_event)
    reset = local.add_parser("reset", help="wipe the local cloud's saved state (users, data, executions)")
    reset.add_argument("--json", action="store_true", help="print what was removed as JSON")
    reset.set_defaults(run=local_reset)
    token = local.add_parser("token", help="print an access token for a local user (created on first use)")
    token.add_argument("--user", default="developer")
    token.add_argument(
        "--scope", action="append", help="a scope to ask for (repeatable; default: every hub scope)"
    )
    token.add_argument(
        "--password",
        action="store_true",
        help="print the user's password instead, for the local sign-in page (`agenthub login --local`)",
    )
    token.set_defaults(run=local_token)

    _add_soak_command(local)

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
    moving.add_argument(
        "--json",
        action="store_true",
        help="print each queue's outcome as JSON (queue, status, moved, failure)",
    )
    moving.set_defaults(run=redrive)

    _add_project_commands(commands)
    return root


EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what a shell reports for a tool that SIGPIPE ended


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)  # --help writes too
        result: int = args.run(args)
        sys.stdout.flush()
    except ModuleNotFoundError as error:
        return _fail(f"a dependency is missing ({error.name}); run `make demo` (or `pip install -e .`) first")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    return result


def _reader_went_away() -> int:
    """The reader of stdout has gone (`agenthub requests | head`): stop quietly, as a tool that
    SIGPIPE ends does. Python's own handling of SIGPIPE is to raise, and to complain again when it
    flushes stdout at exit, so stdout is pointed at /dev/null first
    (https://docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    raise SystemExit(main())
