"""`agenthub local invoke`: one function's real handler with a sample event, inside the local cloud.

Shaped like `sam local invoke [-t TEMPLATE] <LogicalId> -e EVENT [--env-vars FILE]`, without Docker.
The function is one of the hub stack's or of a stack beside it (a tool's, `agent-hub-<tool>`): named
by its template (`-t tools/calculator/template.yaml`) or stack (`--stack`), or found by its logical
id in whichever stack has it. The event's `${...}` names are resolved against that stack in the
running local cloud (`agenthub.local.sample_events`), a sample event's ids are made fresh for the
run (`FreshIds`; `--keep-ids` keeps them; an event of your own runs as written), what it needs
first (its `.needs.json`) is provided, and the function runs in one of the local cloud's own
execution environments, with exactly the environment the template gives it, through the
emulator's `POST /_agenthub/invoke` (Lambda's Invoke, with the invocation's whole log). With
`--env-vars`, the variables the file names for the function (SAM's format: `{"LogicalId": {...},
"Parameters": {...}}`) replace the template's values in an execution environment of its own; as
with SAM, only variables the template declares for the function can be overridden.

The function's log goes to stderr and its response to stdout; a function error exits 1. With
`--follow`, what the invocation started is followed until it ends (`agenthub.local.follow`), and an
execution that did not succeed exits 1 too.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import requests

from agenthub import PROJECT_ROOT
from agenthub.local import activity, local_client
from agenthub.local.activity import Activity, NotQuiet
from agenthub.local.follow import Follower, FollowResult, request_ids_in
from agenthub.local.sample_events import (
    FreshIds,
    Names,
    Needs,
    Rename,
    is_project_sample,
    load_event,
    load_needs,
)

T = TypeVar("T")
EXIT_FUNCTION_ERROR = 1
EXIT_USAGE = 2
FUNCTION_TYPE = "AWS::Lambda::Function"
MAX_PREREQUISITE_DEPTH = 5
# How long one request for the local cloud's activity may wait there (it waits at most 20 s itself).
ACTIVITY_WAIT_SECONDS = 10.0


class InvokeError(RuntimeError):
    """The invocation cannot be made (unknown function, unreadable event or env-vars file)."""


@dataclass(frozen=True)
class InvokeOptions:
    function: str  # the template's logical id (`Parent.Child` in a nested stack)
    event: Path | None = None  # None: an empty event; "-": standard input
    env_vars: Path | None = None
    follow: bool = False
    follow_timeout: float = 120.0
    provide_needs: bool = True
    stack: str | None = None  # the stack's name; None: whichever stack has the function
    template: Path | None = None  # or the template it was deployed from
    fresh_ids: bool = True  # new ids for the run (sample_events.FreshIds), or the event's as written


@dataclass(frozen=True)
class FunctionRef:
    """A function of one of the local cloud's stacks."""

    stack: str
    logical_id: str
    name: str  # the function's name


@dataclass(frozen=True)
class Invocation:
    function: str
    name: str
    request_id: str
    payload: str
    function_error: str | None
    log: str
    duration_ms: float
    ignored_variables: tuple[str, ...] = ()

    def response(self) -> Any:
        """The function's response, as JSON when it is JSON."""
        try:
            return json.loads(self.payload)
        except ValueError:
            return self.payload


@dataclass
class Outcome:
    invocation: Invocation
    event: Any
    followed: FollowResult | None = None
    prerequisites: list[Invocation] = field(default_factory=list)
    ids: FreshIds | None = None  # the run's ids, when they were made fresh

    def as_written(self, value: Any) -> Any:
        """`value` with the run's fresh ids back as the sample wrote them."""
        return self.ids.as_written(value) if self.ids is not None else value

    @property
    def ok(self) -> bool:
        if self.invocation.function_error:
            return False
        return self.followed is None or self.followed.ok


class LocalCloudClient:
    """A running local cloud, as its local.json describes it: the hub stack, and the stacks beside it."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.names = Names.of_local_cloud(info)  # the hub stack's
        self.endpoint_url = str(info["endpoint_url"])
        self.hub_stack = str(info.get("stack_name", ""))
        self.stacks: dict[str, Names] = {self.hub_stack: self.names}
        self.templates: dict[str, Path] = {}
        if info.get("template"):
            self.templates[self.hub_stack] = Path(str(info["template"]))
        for name, stack in (info.get("stacks") or {}).items():
            pseudo = {**self.names.pseudo, "AWS::StackName": name}
            self.stacks[name] = Names(
                dict(stack.get("resources", {})), dict(stack.get("outputs", {})), pseudo
            )
            if stack.get("template"):
                self.templates[name] = Path(str(stack["template"]))

    def client(self, service: str) -> Any:
        return local_client(service, str(self.info["region"]), self.endpoint_url)

    # -- what the local cloud still has to do (agenthub.local.activity), over its control API ----

    def _activity(self, **query: float) -> Activity:
        wait = max(query.values(), default=0.0)
        response = requests.get(
            f"{self.endpoint_url}/_agenthub/activity", params=query, timeout=(10, wait + 30)
        )
        if response.status_code != 200:
            raise InvokeError(
                f"the local cloud's activity could not be read ({response.status_code}): {response.text}"
            )
        return Activity.from_json(response.json())

    def activity(self) -> Activity:
        return self._activity()

    def wait_change(self, after: int, timeout: float) -> int:
        return self._activity(after=after, wait=min(max(0.0, timeout), ACTIVITY_WAIT_SECONDS)).generation

    def settle(self, timeout: float) -> Activity:
        """Waits until the local cloud is quiet, at most `timeout` seconds; the last reading."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            found = self._activity(quiet=min(remaining, ACTIVITY_WAIT_SECONDS))
            if found.quiet or time.monotonic() >= deadline:
                return found

    def wait_quiet(self, timeout: float) -> Activity:
        found = self.settle(timeout)
        if not found.quiet:
            raise NotQuiet(f"the local cloud was still busy after {timeout:g} s: {found.describe()}", found)
        return found

    def wait_for(self, predicate: Callable[[], T | None], timeout: float, what: str) -> T:
        return activity.wait_for(self, predicate, timeout, what)  # type: ignore[return-value]

    def functions(self, stack: str | None = None) -> dict[str, str]:
        """A stack's functions (the hub's by default): logical id -> function name."""
        names = self.stacks[stack or self.hub_stack]
        return {
            logical_id: str(resource["Ref"])
            for logical_id, resource in names.resources.items()
            if resource.get("Type") == FUNCTION_TYPE
        }

    def stack_of_template(self, template: Path) -> str:
        wanted = _absolute(template)
        for stack, path in self.templates.items():
            if _absolute(path) == wanted:
                return stack
        deployed = ", ".join(f"{_shown(path)} ({stack})" for stack, path in sorted(self.templates.items()))
        raise InvokeError(f"{template} is not a template the local cloud deployed; it deployed {deployed}")

    def locate(self, logical_id: str, stack: str | None = None, template: Path | None = None) -> FunctionRef:
        """The function of that logical id: in the stack named (by name or template), else in
        whichever stack has it; an error that lists the functions when none does, or names the
        stacks when several do."""
        if template is not None:
            stack = self.stack_of_template(template)
        if stack is not None and stack not in self.stacks:
            raise InvokeError(
                f"no stack {stack} in the local cloud; its stacks: {', '.join(sorted(self.stacks))}"
            )
        searched = [stack] if stack is not None else list(self.stacks)
        found = [name for name in searched if logical_id in self.functions(name)]
        if len(found) > 1:
            raise InvokeError(
                f"{logical_id} is a function of several stacks ({', '.join(found)}): "
                "name one with --stack or --template"
            )
        if not found:
            where = f"the stack {stack}" if stack is not None else "any stack of the local cloud"
            known = "; ".join(
                f"{name}: {', '.join(sorted(self.functions(name))) or 'none'}" for name in searched
            )
            raise InvokeError(f"{logical_id} is not a function of {where}; the functions are {known}")
        (home,) = found
        return FunctionRef(home, logical_id, self.functions(home)[logical_id])

    def function_name(self, logical_id: str) -> str:
        return self.locate(logical_id).name

    def invoke(
        self, function: FunctionRef, event: Any, environment: dict[str, str] | None = None
    ) -> Invocation:
        response = requests.post(
            f"{self.endpoint_url}/_agenthub/invoke",
            json={"function": function.name, "payload": json.dumps(event), "environment": environment or {}},
            # The local cloud ends the invocation at the function's own timeout (Lambda's is at most 900 s).
            timeout=(10, 960),
        )
        answer = response.json()
        if response.status_code != 200:
            raise InvokeError(
                f"{function.logical_id} was not invoked ({response.status_code}): {answer.get('message')}"
            )
        return Invocation(
            function=function.logical_id,
            name=function.name,
            request_id=str(answer["request_id"]),
            payload=str(answer["payload"]),
            function_error=answer.get("function_error"),
            log=str(answer.get("log", "")),
            duration_ms=float(answer.get("duration_ms", 0)),
            ignored_variables=tuple(answer.get("ignored_variables", [])),
        )


def _absolute(path: Path) -> Path:
    return (path if path.is_absolute() else Path.cwd() / path).resolve()


def environment_overrides(env_vars: Path, logical_id: str, function_name: str) -> dict[str, str]:
    """SAM's `--env-vars` file for one function: `Parameters` for every function, then the entry for
    its logical id (or its function name), which wins."""
    try:
        document = json.loads(env_vars.read_text())
    except (OSError, ValueError) as error:
        raise InvokeError(f"--env-vars {env_vars}: {error}") from error
    if not isinstance(document, dict) or not all(isinstance(value, dict) for value in document.values()):
        raise InvokeError(
            f'--env-vars {env_vars}: expected {{"LogicalId": {{"NAME": "value"}}, "Parameters": {{...}}}}'
        )
    overrides = dict(document.get("Parameters", {}))
    overrides.update(document.get(logical_id) or document.get(function_name) or {})
    return {name: _as_variable(value) for name, value in overrides.items()}


def _as_variable(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def provide(
    cloud: LocalCloudClient, needs: Needs, err: IO[str], depth: int = 0, rename: Rename | None = None
) -> list[Invocation]:
    """Puts what an event needs first in place: lake objects, then the events to run first (with
    the same fresh ids as the event, when `rename` gives them)."""
    s3 = cloud.client("s3")
    for item in needs.objects:
        s3.put_object(Bucket=item.bucket, Key=item.key, Body=item.body)
        print(f"needs: s3://{item.bucket}/{item.key} ({len(item.body)} bytes) put", file=err)
    done = []
    for prerequisite in needs.invoke:
        if depth >= MAX_PREREQUISITE_DEPTH:
            raise InvokeError(
                f"{prerequisite.event}: its needs go deeper than {MAX_PREREQUISITE_DEPTH} events"
            )
        shown = _shown(prerequisite.event)
        outcome = invoke(
            cloud,
            InvokeOptions(prerequisite.function, prerequisite.event, fresh_ids=rename is not None),
            err=None,
            depth=depth + 1,
            rename=rename,
        )
        if outcome.invocation.function_error:
            raise InvokeError(
                f"needs: {prerequisite.function} with {shown} failed: {outcome.invocation.payload}"
            )
        print(f"needs: {prerequisite.function} invoked with {shown}", file=err)
        done.append(outcome.invocation)
    return done


def _shown(path: Path) -> str:
    try:
        return str(_absolute(path).relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def invoke(
    cloud: LocalCloudClient,
    options: InvokeOptions,
    err: IO[str] | None = sys.stderr,
    depth: int = 0,
    rename: Rename | None = None,
) -> Outcome:
    """Invokes the function with the event (resolved, its ids fresh unless kept, its needs
    provided); `err` gets the log (None: an event's prerequisite, which only says that it ran).
    `rename` is the fresh ids of the run a prerequisite belongs to."""
    quiet = err is None
    log_to: IO[str] = err if err is not None else io.StringIO()
    function = cloud.locate(options.function, options.stack, options.template)
    names = cloud.stacks[function.stack]
    ids = None
    if rename is None and options.fresh_ids and is_project_sample(options.event):
        ids = FreshIds()
        rename = ids
    try:
        event = load_event(options.event, names, rename) if options.event is not None else {}
        needs = Needs()
        if options.provide_needs and options.event is not None and str(options.event) != "-":
            needs = load_needs(options.event, names, rename)
    except (OSError, ValueError, LookupError) as error:
        raise InvokeError(f"event {options.event}: {error}") from error
    prerequisites = provide(cloud, needs, log_to, depth, rename)
    overrides = (
        environment_overrides(options.env_vars, options.function, function.name) if options.env_vars else {}
    )
    follower = Follower(cloud, log_to) if options.follow else None
    if follower is not None:
        follower.open()
    try:
        if not quiet:
            where = f"the local cloud at {cloud.endpoint_url}"
            stack = "" if function.stack == cloud.hub_stack else f" of {function.stack}"
            fresh = (
                " (the event's ids made fresh: --keep-ids keeps them)"
                if ids is not None and ids.renamed
                else ""
            )
            print(f"Invoking {options.function}{stack} ({function.name}) in {where}{fresh}", file=log_to)
        invocation = cloud.invoke(function, event, overrides)
        if not quiet:
            log_to.write(invocation.log)
            if invocation.ignored_variables:
                print(
                    f"--env-vars: not declared for {options.function} in the template, so not set "
                    f"(as with sam local invoke): {', '.join(invocation.ignored_variables)}",
                    file=log_to,
                )
        outcome = Outcome(invocation, event, prerequisites=prerequisites, ids=ids)
        if follower is not None:
            started = request_ids_in(event) | request_ids_in(invocation.response())
            awaited = request_ids_in(invocation.response()) - request_ids_in(event)
            outcome.followed = follower.follow(started, awaited, options.follow_timeout)
    finally:
        if follower is not None:
            follower.close()
    return outcome


def running_cloud(state_dir: Path) -> dict[str, Any] | None:
    """The local.json of the local cloud running from `state_dir`, if its process is alive (and is
    not this one: a cloud starting over its own state file is not "already running")."""
    import os

    state = state_dir / "local.json"
    if not state.exists():
        return None
    info: dict[str, Any] = json.loads(state.read_text())
    try:
        os.kill(int(info["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None  # left behind by a process that is gone
    return info if int(info["pid"]) != os.getpid() else None
