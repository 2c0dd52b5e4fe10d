"""`agenthub local invoke`: one function's real handler with a sample event, inside the local cloud.

Shaped like `sam local invoke <LogicalId> -e EVENT [--env-vars FILE]`, without Docker: the event's
`${...}` names are resolved against the running local cloud (`agenthub.local.sample_events`), what
it needs first (its `.needs.json`) is provided, and the function runs in one of the local cloud's
own execution environments, with exactly the environment the template gives it, through the
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

from agenthub.local import activity, local_client
from agenthub.local.activity import Activity, NotQuiet
from agenthub.local.follow import Follower, FollowResult, request_ids_in
from agenthub.local.sample_events import (
    EVENTS_DIR,
    Names,
    Needs,
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

    @property
    def ok(self) -> bool:
        if self.invocation.function_error:
            return False
        return self.followed is None or self.followed.ok


class LocalCloudClient:
    """A running local cloud, as its local.json describes it."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.names = Names.of_local_cloud(info)
        self.endpoint_url = str(info["endpoint_url"])

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

    def functions(self) -> dict[str, str]:
        """The stack's functions: logical id -> function name."""
        return {
            logical_id: str(resource["Ref"])
            for logical_id, resource in self.names.resources.items()
            if resource.get("Type") == FUNCTION_TYPE
        }

    def function_name(self, logical_id: str) -> str:
        functions = self.functions()
        if logical_id not in functions:
            known = ", ".join(sorted(functions))
            raise InvokeError(f"{logical_id} is not a function of the template; its functions: {known}")
        return functions[logical_id]

    def invoke(self, logical_id: str, event: Any, environment: dict[str, str] | None = None) -> Invocation:
        name = self.function_name(logical_id)
        response = requests.post(
            f"{self.endpoint_url}/_agenthub/invoke",
            json={"function": name, "payload": json.dumps(event), "environment": environment or {}},
            # The local cloud ends the invocation at the function's own timeout (Lambda's is at most 900 s).
            timeout=(10, 960),
        )
        answer = response.json()
        if response.status_code != 200:
            raise InvokeError(
                f"{logical_id} was not invoked ({response.status_code}): {answer.get('message')}"
            )
        return Invocation(
            function=logical_id,
            name=name,
            request_id=str(answer["request_id"]),
            payload=str(answer["payload"]),
            function_error=answer.get("function_error"),
            log=str(answer.get("log", "")),
            duration_ms=float(answer.get("duration_ms", 0)),
            ignored_variables=tuple(answer.get("ignored_variables", [])),
        )


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


def provide(cloud: LocalCloudClient, needs: Needs, err: IO[str], depth: int = 0) -> list[Invocation]:
    """Puts what an event needs first in place: lake objects, then the events to run first."""
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
            cloud, InvokeOptions(prerequisite.function, prerequisite.event), err=None, depth=depth + 1
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
        return str(path.resolve().relative_to(EVENTS_DIR.parent))
    except ValueError:
        return str(path)


def invoke(
    cloud: LocalCloudClient, options: InvokeOptions, err: IO[str] | None = sys.stderr, depth: int = 0
) -> Outcome:
    """Invokes the function with the event (resolved, its needs provided); `err` gets the log
    (None: an event's prerequisite, which only says that it ran)."""
    quiet = err is None
    log_to: IO[str] = err if err is not None else io.StringIO()
    name = cloud.function_name(options.function)
    try:
        event = load_event(options.event, cloud.names) if options.event is not None else {}
        needs = Needs()
        if options.provide_needs and options.event is not None and str(options.event) != "-":
            needs = load_needs(options.event, cloud.names)
    except (OSError, ValueError, LookupError) as error:
        raise InvokeError(f"event {options.event}: {error}") from error
    prerequisites = provide(cloud, needs, log_to, depth)
    overrides = environment_overrides(options.env_vars, options.function, name) if options.env_vars else {}
    follower = Follower(cloud, log_to) if options.follow else None
    if follower is not None:
        follower.open()
    try:
        if not quiet:
            where = f"the local cloud at {cloud.endpoint_url}"
            print(f"Invoking {options.function} ({name}) in {where}", file=log_to)
        invocation = cloud.invoke(options.function, event, overrides)
        if not quiet:
            log_to.write(invocation.log)
            if invocation.ignored_variables:
                print(
                    f"--env-vars: not declared for {options.function} in the template, so not set "
                    f"(as with sam local invoke): {', '.join(invocation.ignored_variables)}",
                    file=log_to,
                )
        outcome = Outcome(invocation, event, prerequisites=prerequisites)
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
