"""The client commands: `agenthub login`, `submit`, `status`, `watch`, `cancel`, `requests`,
`upload-dataset`, `models`, `tools`, against a deployed stack or the local cloud (`--local`).

argparse (the rest of `agenthub` uses it) parses; rich draws the tables, the progress bars and
the live view. Human-readable by default, `--json` prints what the hub answered. A problem the
user can fix (no login, no stack, no network, a refusal from the hub) is one line on stderr and a
non-zero exit, never a stack trace. Every command printed as a hint reaches the same hub as
printed (`Hub.command`), and every text from the hub (a model's answer, a tool's, a caller's
input) is printed as it is (`agenthub.terminal`: never read as rich markup).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import requests

from agenthub.hub_access import (
    DEFAULT_CALLBACK_URL,
    DEFAULT_STACK,
    PEOPLE_SCOPES,
    Hub,
    HubAccessError,
    Target,
    TokenCache,
    current_token,
    deployed_hub,
    local_hub,
    login_command,
    machine_login,
    password_login,
    person_login,
    resolve_target,
)
from agenthub.terminal import line, plain

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
EXIT_FAILED = 1  # the hub refused, or the request ended other than SUCCEEDED
EXIT_USAGE = 2
STATUS_STYLE = {
    "ACCEPTED": "cyan",
    "RUNNING": "yellow",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "CANCELLED": "magenta",
}


class HubRefused(HubAccessError):
    """The hub answered 4xx or 5xx; the message is the hub's own."""

    def __init__(self, status: int, body: Any, login_hint: str = "agenthub login") -> None:
        message = body.get("message") if isinstance(body, dict) else None
        problems = body.get("errors") if isinstance(body, dict) else None
        text = f"the hub answered {status}: {message or body}"
        if status == 401:
            text += f" (your login has expired or is not for this hub: run `{login_hint}`)"
        if problems:
            text += "".join(f"\n  {problem.get('field')}: {problem.get('problem')}" for problem in problems)
        super().__init__(text)
        self.status = status
        self.body = body


class Api:
    """The hub's public API with the cached login."""

    def __init__(self, hub: Hub, cache: TokenCache) -> None:
        self.hub = hub
        self._cache = cache
        self._session = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[Any, dict[str, str]]:
        url = path if path.startswith("http") else f"{self.hub.api_url.rstrip('/')}{path}"
        token = current_token(self.hub, self._cache)
        try:
            response = self._session.request(
                method,
                url,
                json=body,
                params=params,
                headers={"Authorization": f"Bearer {token}", **(headers or {})},
                timeout=30,
            )
        except requests.RequestException as error:
            raise HubAccessError(f"cannot reach the hub at {self.hub.api_url}: {error}") from error
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        if response.status_code >= 400:
            raise HubRefused(response.status_code, answer, login_command(self.hub, self._cache.get(self.hub)))
        return answer, dict(response.headers)


# -- helpers ---------------------------------------------------------------------------------------


def _console(stream: IO[str] | None = None) -> Any:
    from agenthub.terminal import console

    return console(stream)


def _state_dir() -> Path:
    from agenthub.cli import state_dir

    return state_dir()


def target_of(args: argparse.Namespace, cache: TokenCache | None = None) -> Target:
    """The hub the command means (see `agenthub.hub_access.resolve_target`)."""
    remembered = (cache or TokenCache()).last_target()
    return resolve_target(args.local, args.stack, args.region, remembered, os.environ)


def find_hub(args: argparse.Namespace, cache: TokenCache | None = None) -> Hub:
    cache = cache or TokenCache()
    target = target_of(args, cache)
    hub = local_hub(_state_dir()) if target.local else deployed_hub(target.stack, target.region)
    # The flags a suggested command needs to reach this hub: none when plain commands reach it.
    plain_target = resolve_target(False, None, None, cache.last_target(), os.environ)
    return replace(hub, flags=() if plain_target == target else target.flags())


def _api(args: argparse.Namespace) -> Api:
    cache = TokenCache()
    return Api(find_hub(args, cache), cache)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _status(status: Any) -> Any:
    return plain(status, STATUS_STYLE.get(str(status), "white"))


def _read_input(source: str | None) -> Any:
    if source is None:
        return {}
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as error:
        raise HubAccessError(f"cannot read the input {source}: {error.strerror}") from error
    try:
        return json.loads(text)
    except ValueError as error:
        raise HubAccessError(f"the input {source} is not JSON: {error}") from error


def _short(value: Any, width: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def _cell(value: Any) -> str:
    """A value for a table cell: text as it is, a list of texts joined, anything nested as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(str(item) for item in value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _calls(progress: Any) -> list[dict[str, Any]]:
    """An agent's latest tool calls from its progress (JSONata gives one match as an object)."""
    calls = progress.get("latest_calls") if isinstance(progress, dict) else None
    calls = [calls] if isinstance(calls, dict) else calls or []
    return [call for call in calls if isinstance(call, dict)]


def _transcript(view: dict[str, Any]) -> list[dict[str, Any]]:
    result = view.get("result")
    calls = result.get("transcript") if isinstance(result, dict) else None
    return [call for call in calls or [] if isinstance(call, dict)]


def _call_line(call: dict[str, Any], indent: str = "  ") -> Any:
    turn = f"turn {call['turn']} " if isinstance(call.get("turn"), int) else ""
    return line(
        f"{indent}{turn}tool {call.get('tool')}({_short(call.get('input', ''), 60)}) -> "
        f"{call.get('outcome')}: {_short(call.get('answer', ''), 60)}",
        one_line=True,
    )


class CallsShown:
    """The tool calls a watch has printed, each once: a view's progress has only its latest turn's
    calls, so a turn that ended between two polls is printed from the transcript at the end."""

    def __init__(self) -> None:
        self._seen: set[tuple[Any, ...]] = set()

    def new(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = []
        position: dict[Any, int] = {}
        for call in calls:
            turn = call.get("turn")
            position[turn] = position.get(turn, -1) + 1
            key = (turn, position[turn], call.get("tool"), call.get("input"))
            if key not in self._seen:
                self._seen.add(key)
                fresh.append(call)
        return fresh


def _seconds(iso: str | None) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


# -- commands --------------------------------------------------------------------------------------


def login(args: argparse.Namespace) -> int:
    cache = TokenCache()
    target = target_of(args, cache)
    if args.password_stdin and not args.user:
        raise HubAccessError("--password-stdin is the password of a --user")
    if args.user and args.machine:
        raise HubAccessError("--user signs in a person, --machine a machine: give one")
    if args.user and not target.local:
        raise HubAccessError(
            "--user signs in a user of the local cloud (with --local); people sign in to a deployed "
            "stack in the browser (`agenthub login`), machines with --machine"
        )
    hub = find_hub(args, cache)
    err = _console(sys.stderr)
    if args.machine:
        client_id = args.client_id or os.environ.get("AGENTHUB_CLIENT_ID") or hub.machine_client_id
        secret = args.client_secret or os.environ.get("AGENTHUB_CLIENT_SECRET")
        if not client_id or not secret:
            raise HubAccessError(
                "a machine logs in with its app client's id and secret: --client-id and --client-secret "
                "(or AGENTHUB_CLIENT_ID and AGENTHUB_CLIENT_SECRET)"
            )
        signed_in = machine_login(hub, client_id, secret)
    elif args.user:
        signed_in = password_login(hub, args.user, _local_password(args), args.callback_url, PEOPLE_SCOPES)
    else:
        signed_in = person_login(
            hub,
            callback_url=args.callback_url,
            open_browser=not args.no_browser,
            announce=lambda text: err.print(plain(text), soft_wrap=True),
        )
        if target.local:
            err.print(
                plain(
                    "(a local user's password is what agenthub local token --user <name> --password "
                    "prints; --user <name> signs in without the browser)"
                ),
                soft_wrap=True,
            )
    cache.put(hub, signed_in)
    cache.remember(target)
    if args.json:
        _print_json({"hub": hub.name, "kind": signed_in.kind, "expires_at": signed_in.expires_at})
    else:
        minutes = (signed_in.expires_at - time.time()) / 60
        renews = "with the refresh token" if signed_in.refresh_token else "with the client's secret"
        who = f" {signed_in.username}" if signed_in.username else ""
        if resolve_target(False, None, None, target, os.environ) == target:
            plain_commands = "plain `agenthub` commands now use this hub"
        else:
            plain_commands = f"$AGENTHUB_STACK is set, so name this hub with {' '.join(target.flags())}"
        _console().print(
            plain(
                f"logged in to {hub.name} as a {signed_in.kind}{who}; the token lasts {minutes:.0f} min and "
                f"renews {renews} (cached in {cache.path}); {plain_commands}"
            )
        )
    return 0


def _local_password(args: argparse.Namespace) -> str:
    """The password for `login --user`: from standard input with --password-stdin, else the local
    user's own (the one `agenthub local token --password` prints; the user is created on first use)."""
    from agenthub.local.tokens import LocalTokenError, ensure_user, load_info, user_password

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise HubAccessError("--password-stdin: standard input gave no password")
        return password
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        password = user_password(_state_dir(), args.user)
        ensure_user(load_info(_state_dir()), args.user, password)
    except LocalTokenError as error:
        raise HubAccessError(str(error)) from error
    except (BotoCoreError, ClientError) as error:
        raise HubAccessError(
            f"the local cloud's user pool cannot make the user {args.user}: {error}"
        ) from error
    return password


def submit(args: argparse.Namespace) -> int:
    api = _api(args)
    key = args.idempotency_key or str(uuid.uuid4())
    body = {"pipeline": args.pipeline, "input": _read_input(args.input)}
    answer, headers = api.call("POST", "/v1/requests", body, headers={"Idempotency-Key": key})
    replayed = headers.get("Idempotency-Replayed") == "true"
    if args.watch:
        if not args.json:
            _console(sys.stderr).print(
                plain(
                    f"accepted {answer['request_id']} ({args.pipeline}, Idempotency-Key {key})"
                    + (", a replay of the first answer" if replayed else "")
                )
            )
        return _watch(api, answer["request_id"], args.json, args.timeout)
    if args.json:
        _print_json({**answer, "idempotency_key": key, "replayed": replayed})
        return 0
    console = _console()
    console.print(line(_status(answer["status"]), f" {answer['request_id']}  pipeline {answer['pipeline']}"))
    console.print(line(f"  stages: {', '.join(answer['stages'])}"))
    console.print(
        line(f"  Idempotency-Key: {key}" + ("  (replayed: the first answer to this key)" if replayed else ""))
    )
    console.print(line(f"  {headers.get('Location', answer['links']['self'])}"))
    console.print(line(f"  watch it: `{api.hub.command('watch', answer['request_id'])}`"))
    return 0


def status(args: argparse.Namespace) -> int:
    view, _ = _api(args).call("GET", f"/v1/requests/{args.request_id}")
    if args.json:
        _print_json(view)
    else:
        _render_view(_console(), view)
    return EXIT_FAILED if view["status"] in ("FAILED", "CANCELLED") else 0


def _history_line(entry: dict[str, Any], when: str) -> Any:
    note = f"  ({entry['note']})" if entry.get("note") else ""
    return line(f"{when}  {entry['event_type']:<28} ", _status(entry["status"]), note, one_line=True)


def _render_view(console: Any, view: dict[str, Any]) -> None:
    console.print(line(_status(view["status"]), f" {view['request_id']}  pipeline {view['pipeline']}"))
    console.print(line(f"  created {view.get('created_at')}, updated {view.get('updated_at')}"))
    for entry in view.get("history", []):
        console.print(_history_line(entry, f"  {entry['occurred_at']}"))
    if view.get("progress") is not None:
        console.print(line(f"  progress: {_short(view['progress'])}"))
    for call in _transcript(view):
        console.print(_call_line(call))
    _render_outcome(console, view)


def _render_outcome(console: Any, view: dict[str, Any]) -> None:
    """The result (or where it is) and the error; the tool calls are printed by the caller."""
    result = view.get("result")
    if isinstance(result, dict):
        text = result.get("output_text") or result.get("model_arn") or result.get("stats")
        console.print(line(f"  result: {_short(text if text is not None else result, 400)}"))
    elif result is not None:
        console.print(line(f"  result: {_short(result, 400)}"))
    elif view.get("result_url"):
        console.print(line(f"  result (too large to show inline): {view['result_url']}"))
    if view.get("error") is not None:
        console.print(plain(f"  error: {_short(view['error'], 400)}", "red"))
    elif view.get("error_url"):
        console.print(plain(f"  error (too large to show inline): {view['error_url']}", "red"))


def watch(args: argparse.Namespace) -> int:
    return _watch(_api(args), args.request_id, args.json, args.timeout)


def _watch(api: Api, request_id: str, as_json: bool, timeout: float) -> int:
    """Follows the request until it ends: each hub event as it arrives, a progress bar with the
    elapsed time while it runs (the job's own elapsed time for customization), an agent's tool
    calls (each once: those of a turn that ended between two polls come from the transcript at
    the end), then the result or the error. Exits 1 unless it SUCCEEDED."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = _console(sys.stderr if as_json else sys.stdout)
    shown_events: set[tuple[Any, ...]] = set()
    shown_calls = CallsShown()
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{request_id} ACCEPTED", total=None)
        while True:
            view, _ = api.call("GET", f"/v1/requests/{request_id}")
            created = _seconds(view.get("created_at"))
            # The history is in time order, and an event can arrive after a later one: each entry
            # is printed once, whatever its place.
            for entry in view.get("history", []):
                key = tuple(sorted((name, str(value)) for name, value in entry.items()))
                if key in shown_events:
                    continue
                shown_events.add(key)
                at = _seconds(entry["occurred_at"])
                offset = f"+{at - created:6.1f}s" if at is not None and created is not None else ""
                bar.console.print(_history_line(entry, offset))
            progress = view.get("progress")
            for call in shown_calls.new(_calls(progress)):
                bar.console.print(_call_line(call, indent="          "))
            detail = ""
            if isinstance(progress, dict) and "elapsed_seconds" in progress:
                detail = f"  job {progress.get('status')} for {progress['elapsed_seconds']}s"
            elif isinstance(progress, dict) and "turn" in progress:
                detail = f"  turn {progress['turn']}, {progress.get('tool_calls', 0)} tool call(s)"
            bar.update(task, description=f"{request_id} {view['status']}{detail}")
            if view["status"] in TERMINAL:
                for call in shown_calls.new(_transcript(view)):
                    bar.console.print(_call_line(call, indent="          "))
                break
            if time.monotonic() > deadline:
                raise HubAccessError(
                    f"request {request_id} is still {view['status']} after {timeout:.0f}s; "
                    f"`{api.hub.command('watch', request_id)}` follows it again"
                )
            time.sleep(1)
    if as_json:
        _print_json(view)
    else:
        console.print(line(_status(view["status"]), f" {request_id}"))
        _render_outcome(console, view)
    return 0 if view["status"] == "SUCCEEDED" else EXIT_FAILED


def cancel(args: argparse.Namespace) -> int:
    api = _api(args)
    answer, _ = api.call("POST", f"/v1/requests/{args.request_id}/cancel")
    if args.json:
        _print_json(answer)
    else:
        _console().print(
            line(
                f"cancel asked for {args.request_id} (it was ",
                _status(answer["status"]),
                f"); `{api.hub.command('watch', args.request_id)}` shows it end CANCELLED",
            )
        )
    return 0


def list_requests(args: argparse.Namespace) -> int:
    from rich.table import Table

    api = _api(args)
    params = {"limit": str(args.limit)}
    filters = {name: value for name, value in (("pipeline", args.pipeline), ("status", args.status)) if value}
    params.update(filters)
    if args.cursor:
        params["cursor"] = args.cursor
    page, _ = api.call("GET", "/v1/requests", params=params)
    if args.json:
        _print_json(page)
        return 0
    table = Table("request", "pipeline", "status", "created", "updated", title="your requests, newest first")
    for item in page["requests"]:
        table.add_row(
            plain(item["request_id"], one_line=True),
            plain(item["pipeline"], one_line=True),
            _status(item["status"]),
            plain(_cell(item.get("created_at")), one_line=True),
            plain(_cell(item.get("updated_at")), one_line=True),
        )
    console = _console()
    console.print(table)
    if page.get("next_cursor"):
        same_query = [word for name, value in filters.items() for word in (f"--{name}", value)]
        more = api.hub.command(
            "requests", *same_query, "--limit", str(args.limit), "--cursor", page["next_cursor"]
        )
        console.print(line(f"more: `{more}`"))
    return 0


def _upload_with_progress(upload: dict[str, Any], path: Path, console: Any) -> None:
    from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with (
        path.open("rb") as file,
        Progress(
            TextColumn("{task.description}", markup=False, style="progress.description"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress,
    ):
        # The form's fields first, the file last: S3 ignores fields after the file.
        encoder = MultipartEncoder(
            fields={
                **upload["fields"],
                upload.get("file_field", "file"): (
                    path.name,
                    file,
                    upload["fields"].get("Content-Type", "application/octet-stream"),
                ),
            }
        )
        task = progress.add_task(f"uploading {path.name}", total=encoder.len)
        monitor = MultipartEncoderMonitor(
            encoder, lambda sent: progress.update(task, completed=sent.bytes_read)
        )
        try:
            response = requests.post(
                upload["url"], data=monitor, headers={"Content-Type": monitor.content_type}, timeout=300
            )
        except requests.RequestException as error:
            raise HubAccessError(f"the upload to {upload['url']} failed: {error}") from error
    if response.status_code >= 300:
        raise HubAccessError(
            f"the data lake refused the upload ({response.status_code}): {response.text[:300]}"
        )


def _dataset_report(path: Path, method: str) -> dict[str, Any]:
    """The report the customization pipeline's validator would write for this file: the same rules
    (functions/customization/dataset_rules.py), run here before a job can be asked for."""
    from agenthub.iam.check import _functions_importable

    with _functions_importable():
        from contracts.customization import Method
        from customization.dataset_rules import validate_lines

    with path.open("rb") as file:
        report = validate_lines(file, Method(method), path.stat().st_size)
    return report.as_dict()


def upload_dataset(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise HubAccessError(f"no file {path}")
    api = _api(args)
    upload, _ = api.call("POST", "/v1/datasets")
    if path.stat().st_size > upload["max_bytes"]:
        raise HubAccessError(
            f"{path} is {path.stat().st_size} bytes; this hub takes at most {upload['max_bytes']}"
        )
    console = _console(sys.stderr if args.json else sys.stdout)
    _upload_with_progress(upload["upload"], path, console)
    report = _dataset_report(path, args.method)
    if args.json:
        _print_json({"dataset_id": upload["dataset_id"], "report": report})
    else:
        out = _console()
        verdict = plain("valid", "green") if report["valid"] else plain("invalid", "red")
        out.print(line(f"dataset {upload['dataset_id']}: ", verdict, f" for {args.method}"))
        out.print(
            line(
                f"  {report['records']} record(s), {report['bytes']} bytes, "
                f"about {report['estimated_tokens']} tokens"
            )
        )
        for problem in report["errors"]:
            where = f"line {problem['line']}" if problem["line"] else "dataset"
            out.print(plain(f"  {where}: {problem['problem']}", "red"))
        if report["more_errors"]:
            out.print(line(f"  ... and {report['more_errors']} more problem(s)"))
        if report["valid"]:
            out.print(
                line(
                    f'  use it: "dataset_id": "{upload["dataset_id"]}" in the input of a customize request '
                    "(README, Customizing Amazon Nova)"
                )
            )
    return 0 if report["valid"] else EXIT_FAILED


def _table_command(
    path: str, key: str, columns: list[tuple[str, Callable[[dict[str, Any]], str]]], title: str
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from rich.table import Table

        answer, _ = _api(args).call("GET", path)
        if args.json:
            _print_json(answer)
            return 0
        table = Table(*(name for name, _ in columns), title=title)
        for item in answer.get(key, []):
            table.add_row(*(plain(render(item), one_line=True) for _, render in columns))
        _console().print(table)
        return 0

    return run


def _dataset(dataset: Any) -> str:
    """A model's dataset: its id, or its role and where it is."""
    if isinstance(dataset, dict) and ("role" in dataset or "uri" in dataset):
        return f"{dataset.get('role', 'dataset')}: {_cell(dataset.get('uri') or dataset.get('dataset_id'))}"
    return _cell(dataset)


models = _table_command(
    "/v1/models",
    "models",
    [
        ("name", lambda m: _cell(m.get("name") or m.get("output_model_name"))),
        ("method", lambda m: f"{_cell(m.get('method'))} {_cell(m.get('technique'))}".strip()),
        ("base model", lambda m: _cell(m.get("base_model"))),
        ("datasets", lambda m: ", ".join(_dataset(d) for d in m.get("datasets") or [] if d)),
        ("metrics", lambda m: _cell(m.get("metrics_location") or m.get("metrics_uri"))),
        ("invocable ARN", lambda m: _cell(m.get("invocable_arn") or m.get("model_arn"))),
    ],
    "your customized models",
)
tools = _table_command(
    "/v1/tools",
    "tools",
    [
        ("tool", lambda t: _cell(t["name"])),
        ("description", lambda t: _short(_cell(t.get("description")), 70)),
        ("input", lambda t: ", ".join((t.get("input_schema") or {}).get("properties") or {})),
    ],
    "tools agents may use",
)


# -- the parser ------------------------------------------------------------------------------------


def _target_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    where = options.add_argument_group(
        "which hub",
        "without these: $AGENTHUB_STACK if set, else the hub of the last `agenthub login`, "
        f"else the stack {DEFAULT_STACK}",
    )
    where.add_argument(
        "--local", action="store_true", help="the local cloud of $AGENTHUB_STATE_DIR (`agenthub local up`)"
    )
    where.add_argument("--stack", help="a deployed stack's name")
    where.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    options.add_argument("--json", action="store_true", help="print what the hub answered, as JSON")
    return options


def add_commands(commands: Any) -> None:
    """The client commands, on `agenthub`'s own subparsers."""
    target = _target_options()

    def add(name: str, run: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, parents=[target], help=help_text, description=help_text
        )
        parser.set_defaults(run=_guarded(run))
        return parser

    signing = add(
        "login", login, "sign in to a hub: people in the browser (PKCE), machines with client credentials"
    )
    signing.add_argument("--machine", action="store_true", help="log in as a machine (client credentials)")
    signing.add_argument(
        "--client-id", help="the machine's app client (default: the stack's MachineClientId)"
    )
    signing.add_argument("--client-secret", help="the machine's secret (better: $AGENTHUB_CLIENT_SECRET)")
    signing.add_argument(
        "--callback-url",
        default=os.environ.get("AGENTHUB_CALLBACK_URL", DEFAULT_CALLBACK_URL),
        help="the loopback redirect, one of the app client's callback URLs "
        "(default: $AGENTHUB_CALLBACK_URL or %(default)s)",
    )
    signing.add_argument(
        "--no-browser", action="store_true", help="print the sign-in URL instead of opening it"
    )
    signing.add_argument(
        "--user",
        metavar="NAME",
        help="sign in a local cloud's user without a browser, through its sign-in form (with --local), "
        "with the user's local password (`agenthub local token --user NAME --password`; the user is "
        "created on first use)",
    )
    signing.add_argument(
        "--password-stdin",
        action="store_true",
        help="with --user: read the password from standard input instead",
    )

    submitting = add("submit", submit, "submit a request to a pipeline")
    submitting.add_argument("pipeline", choices=["preprocess", "invoke", "agent", "customize"])
    submitting.add_argument(
        "--input", metavar="FILE", help="the request's input as JSON ('-': standard input)"
    )
    submitting.add_argument(
        "--idempotency-key", help="repeat it to retry safely (default: a new one, printed)"
    )
    submitting.add_argument("--watch", action="store_true", help="follow the request until it ends")
    submitting.add_argument("--timeout", type=float, default=3600, help="seconds --watch waits at most")

    for name, run, help_text in (
        ("status", status, "a request's status, history, result or error"),
        ("watch", watch, "follow a request live until it ends; exits 1 unless it succeeded"),
        ("cancel", cancel, "ask the hub to cancel a request"),
    ):
        parser = add(name, run, help_text)
        parser.add_argument("request_id")
        if name == "watch":
            parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most")

    listing = add("requests", list_requests, "your recent requests, newest first")
    listing.add_argument("--pipeline", choices=["preprocess", "invoke", "agent", "customize"])
    listing.add_argument("--status", choices=["ACCEPTED", "RUNNING", *TERMINAL])
    listing.add_argument("--limit", type=int, default=20, help="at most this many (1-100)")
    listing.add_argument("--cursor", help="the next page, as the previous one printed it")

    uploading = add("upload-dataset", upload_dataset, "upload a customization dataset, then report on it")
    uploading.add_argument("file", help="JSON Lines, one record per line")
    uploading.add_argument(
        "--method",
        default="sft",
        choices=["sft", "dpo", "ppo", "rft", "cpt", "distillation"],
        help="the customization method whose record schema the report checks",
    )

    add("models", models, "your customized models (GET /v1/models)")
    add("tools", tools, "the tools agents may use now")


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except HubAccessError as error:
            print(f"agenthub: {error}", file=sys.stderr)
            return EXIT_FAILED

    return guarded
